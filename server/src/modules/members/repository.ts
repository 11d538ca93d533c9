import { and, eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { memberships, users, type Role } from '../../db/schema.js';

/** Members as the API shows them: the account's name and e-mail with the role here. */
const members = (db: Executor) =>
  db
    .select({
      userId: users.id,
      email: users.email,
      name: users.name,
      role: memberships.role,
      createdAt: memberships.createdAt,
    })
    .from(memberships)
    .innerJoin(users, eq(users.id, memberships.userId));

export const memberRepository = {
  async list(db: Executor, orgId: string) {
    return members(db).where(eq(memberships.orgId, orgId)).orderBy(memberships.createdAt);
  },
  async find(db: Executor, orgId: string, userId: string) {
    const [row] = await members(db).where(
      and(eq(memberships.orgId, orgId), eq(memberships.userId, userId)),
    );
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
