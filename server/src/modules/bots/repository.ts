import { and, asc, eq, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { bots } from '../../db/schema.js';

export type BotRow = typeof bots.$inferSelect;
export type BotInsert = Omit<typeof bots.$inferInsert, 'id' | 'orgId' | 'createdAt' | 'updatedAt'>;

export const botRepository = {
  list: (db: Executor, orgId: string) =>
    db.select().from(bots).where(eq(bots.orgId, orgId)).orderBy(asc(bots.createdAt)),
  async get(db: Executor, orgId: string, id: string) {
    const [row] = await db
      .select()
      .from(bots)
      .where(and(eq(bots.orgId, orgId), eq(bots.id, id)));
    return row ?? null;
  },
  async insert(db: Executor, orgId: string, values: BotInsert) {
    const [row] = await db
      .insert(bots)
      .values({ ...values, orgId })
      .returning();
    return row!;
  },
  /** `restart` bumps the revision the supervisor watches: its runner is replaced. */
  async update(
    db: Executor,
    orgId: string,
    id: string,
    values: Partial<BotInsert>,
    { restart = false } = {},
  ) {
    const [row] = await db
      .update(bots)
      .set({
        ...values,
        ...(restart ? { revision: sql`${bots.revision} + 1` } : {}),
        updatedAt: new Date(),
      })
      .where(and(eq(bots.orgId, orgId), eq(bots.id, id)))
      .returning();
    return row ?? null;
  },
  async remove(db: Executor, orgId: string, id: string) {
    const [row] = await db
      .delete(bots)
      .where(and(eq(bots.orgId, orgId), eq(bots.id, id)))
      .returning();
    return row ?? null;
  },
};
