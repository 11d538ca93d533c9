import { and, count, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/client.js';
import {
  apiKeys,
  memberships,
  organizations,
  sessions,
  users,
  type Role,
} from '../../db/schema.js';

/** Users are installation-wide (not org-owned); sessions belong to a user. */
export const userRepository = {
  async findByEmail(db: Executor, email: string) {
    const [row] = await db
      .select()
      .from(users)
      .where(sql`lower(${users.email}) = lower(${email})`);
    return row ?? null;
  },
  async findById(db: Executor, id: string) {
    const [row] = await db.select().from(users).where(eq(users.id, id));
    return row ?? null;
  },
  async count(db: Executor) {
    const [row] = await db.select({ n: count() }).from(users);
    return row?.n ?? 0;
  },
  async insert(
    db: Executor,
    values: { email: string; name: string; passwordHash: string; isSuperadmin: boolean },
  ) {
    const [row] = await db.insert(users).values(values).returning();
    return row!;
  },
  async setSuperadmin(db: Executor, id: string) {
    await db
      .update(users)
      .set({ isSuperadmin: true, updatedAt: new Date() })
      .where(eq(users.id, id));
  },
  async setPassword(db: Executor, id: string, passwordHash: string) {
    await db.update(users).set({ passwordHash, updatedAt: new Date() }).where(eq(users.id, id));
  },
  /** A user with their organizations and roles, in one query (a prepared statement: /me). */
  profile: (db: Database) => {
    const query = db
      .select({
        user: users,
        orgId: organizations.id,
        orgName: organizations.name,
        role: memberships.role,
      })
      .from(users)
      .leftJoin(memberships, eq(memberships.userId, users.id))
      .leftJoin(organizations, eq(organizations.id, memberships.orgId))
      .where(eq(users.id, sql.placeholder('userId')))
      .orderBy(organizations.name)
      .prepare('auth_profile');
    return async (userId: string) => {
      const rows = await query.execute({ userId });
      if (!rows[0]) return null;
      return {
        user: rows[0].user,
        memberships: rows.flatMap((r) =>
          r.orgId && r.role ? [{ id: r.orgId, name: r.orgName!, role: r.role }] : [],
        ),
      };
    };
  },
  async membershipsOf(db: Executor, userId: string) {
    return db
      .select({ id: organizations.id, name: organizations.name, role: memberships.role })
      .from(memberships)
      .innerJoin(organizations, eq(organizations.id, memberships.orgId))
      .where(eq(memberships.userId, userId))
      .orderBy(organizations.name);
  },
  async roleIn(db: Executor, orgId: string, userId: string): Promise<Role | null> {
    const [row] = await db
      .select({ role: memberships.role })
      .from(memberships)
      .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)));
    return row?.role ?? null;
  },
};

export const sessionRepository = {
  async insert(
    db: Executor,
    values: {
      userId: string;
      tokenHash: string;
      expiresAt: Date;
      ip: string | null;
      userAgent: string | null;
    },
  ) {
    const [row] = await db.insert(sessions).values(values).returning();
    return row!;
  },
  /**
   * Live sessions with their users, by token hash (one query for many concurrent requests;
   * a prepared statement, as every request makes it).
   */
  findLiveMany: (db: Database) => {
    const query = db
      .select({ session: sessions, user: users })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(
        and(
          sql`${sessions.tokenHash} = any(${sql.placeholder('hashes')}::text[])`,
          isNull(sessions.revokedAt),
          gt(sessions.expiresAt, sql`now()`),
        ),
      )
      .prepare('auth_live_sessions');
    return (tokenHashes: readonly string[]) => query.execute({ hashes: tokenHashes });
  },
  async revoke(db: Executor, sessionId: string) {
    await db.update(sessions).set({ revokedAt: new Date() }).where(eq(sessions.id, sessionId));
  },
  async touch(db: Executor, sessionId: string) {
    await db.update(sessions).set({ lastUsedAt: new Date() }).where(eq(sessions.id, sessionId));
  },
};

export const apiKeyLookup = {
  /** Live API keys by key hash (one query for many concurrent requests; prepared). */
  findLiveMany: (db: Database) => {
    const query = db
      .select()
      .from(apiKeys)
      .where(
        and(
          sql`${apiKeys.keyHash} = any(${sql.placeholder('hashes')}::text[])`,
          isNull(apiKeys.revokedAt),
          or(isNull(apiKeys.expiresAt), gt(apiKeys.expiresAt, sql`now()`)),
        ),
      )
      .prepare('auth_live_api_keys');
    return (keyHashes: readonly string[]) => query.execute({ hashes: keyHashes });
  },
};
