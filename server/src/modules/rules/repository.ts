import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { chats, rules } from '../../db/schema.js';

export type RuleRow = typeof rules.$inferSelect;
export type RuleInsert = Omit<
  typeof rules.$inferInsert,
  'id' | 'orgId' | 'createdAt' | 'updatedAt'
>;

export const ruleRepository = {
  list: (db: Executor, orgId: string) =>
    db
      .select()
      .from(rules)
      .where(eq(rules.orgId, orgId))
      .orderBy(asc(rules.priority), asc(rules.id)),
  async get(db: Executor, orgId: string, id: string) {
    const [row] = await db
      .select()
      .from(rules)
      .where(and(eq(rules.orgId, orgId), eq(rules.id, id)));
    return row ?? null;
  },
  async insert(db: Executor, orgId: string, values: RuleInsert) {
    const [row] = await db
      .insert(rules)
      .values({ ...values, orgId })
      .returning();
    return row!;
  },
  async update(db: Executor, orgId: string, id: string, values: Partial<RuleInsert>) {
    const [row] = await db
      .update(rules)
      .set({ ...values, updatedAt: new Date() })
      .where(and(eq(rules.orgId, orgId), eq(rules.id, id)))
      .returning();
    return row ?? null;
  },
  async remove(db: Executor, orgId: string, id: string) {
    const [row] = await db
      .delete(rules)
      .where(and(eq(rules.orgId, orgId), eq(rules.id, id)))
      .returning();
    return row ?? null;
  },
  /** Which of these chat ids belong to the org. */
  async existingChatIds(db: Executor, orgId: string, chatIds: string[]) {
    if (chatIds.length === 0) return new Set<string>();
    const rows = await db
      .select({ id: chats.id })
      .from(chats)
      .where(and(eq(chats.orgId, orgId), inArray(chats.id, chatIds)));
    return new Set(rows.map((r) => r.id));
  },
};
