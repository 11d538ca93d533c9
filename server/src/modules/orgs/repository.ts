import { and, count, eq, ilike, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { bots, chats, mailboxes, memberships, organizations, type Role } from '../../db/schema.js';

export const orgRepository = {
  async insert(db: Executor, name: string) {
    const [row] = await db.insert(organizations).values({ name }).returning();
    return row!;
  },
  async find(db: Executor, orgId: string) {
    const [row] = await db.select().from(organizations).where(eq(organizations.id, orgId));
    return row ?? null;
  },
  async update(
    db: Executor,
    orgId: string,
    values: { name?: string; settings?: Record<string, unknown> },
  ) {
    const [row] = await db
      .update(organizations)
      .set({ ...values, updatedAt: new Date() })
      .where(eq(organizations.id, orgId))
      .returning();
    return row ?? null;
  },
  async hasChat(db: Executor, orgId: string, chatId: string) {
    const [row] = await db
      .select({ id: chats.id })
      .from(chats)
      .where(and(eq(chats.orgId, orgId), eq(chats.id, chatId)));
    return !!row;
  },
  async delete(db: Executor, orgId: string) {
    await db.delete(organizations).where(eq(organizations.id, orgId));
  },
  async addMember(db: Executor, orgId: string, userId: string, role: Role) {
    await db.insert(memberships).values({ orgId, userId, role });
  },
  async listForUser(db: Executor, userId: string) {
    return db
      .select({ org: organizations, role: memberships.role })
      .from(memberships)
      .innerJoin(organizations, eq(organizations.id, memberships.orgId))
      .where(eq(memberships.userId, userId))
      .orderBy(organizations.name);
  },
  /** Installation-wide listing for the superadmin, with counts. */
  async listAll(db: Executor, q?: string) {
    return db
      .select({
        id: organizations.id,
        name: organizations.name,
        createdAt: organizations.createdAt,
        members: sql<number>`(select count(*)::int from ${memberships} m where m.org_id = ${organizations.id})`,
        bots: sql<number>`(select count(*)::int from ${bots} b where b.org_id = ${organizations.id})`,
        mailboxes: sql<number>`(select count(*)::int from ${mailboxes} x where x.org_id = ${organizations.id})`,
      })
      .from(organizations)
      .where(q ? ilike(organizations.name, `%${q}%`) : undefined)
      .orderBy(organizations.createdAt);
  },
  async countOwners(db: Executor, orgId: string) {
    const [row] = await db
      .select({ n: count() })
      .from(memberships)
      .where(and(eq(memberships.orgId, orgId), eq(memberships.role, 'owner')));
    return row?.n ?? 0;
  },
};
