import { and, eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { memberships, users, type Role } from '../../db/schema.js';

export const memberRepository = {
  async list(db: Executor, orgId: string) {
    return db
      .select({
        userId: users.id,
        email: users.email,
        name: users.name,
        role: memberships.role,
        createdAt: memberships.createdAt,
      })
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .where(eq(memberships.orgId, orgId))
      .orderBy(memberships.createdAt);
  },
  async find(db: Executor, orgId: string, userId: string) {
    const [row] = await db
      .select({
        userId: users.id,
        email: users.email,
        name: users.name,
        role: memberships.role,
        createdAt: memberships.createdAt,
      })
      .from(memberships)
      .innerJoin(users, eq(users.id, memberships.userId))
      .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)));
    return row ?? null;
  },
  async setRole(db: Executor, orgId: string, userId: string, role: Role) {
    await db
      .update(memberships)
      .set({ role })
      .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)));
  },
  async remove(db: Executor, orgId: string, userId: string) {
    await db
      .delete(memberships)
      .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)));
  },
};
