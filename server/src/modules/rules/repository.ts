import { and, count, eq, inArray } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { containing, pageOf, sortedBy } from '../../db/list-page.js';
import { chats, rules } from '../../db/schema.js';
import type { SortedListQuery } from '../../http/list.js';

/** The fields `GET …/rules?sort=` accepts. */
export const ruleSortFields = [
  'name',
  'enabled',
  'priority',
  'match',
  'stopProcessing',
  'createdAt',
  'id',
] as const;
export type RuleListQuery = SortedListQuery<typeof ruleSortFields>;

export type RuleRow = typeof rules.$inferSelect;
export type RuleInsert = Omit<
  typeof rules.$inferInsert,
  'id' | 'orgId' | 'createdAt' | 'updatedAt'
>;

export const ruleRepository = {
  /**
   * One page of the org's rules: `q` finds a name containing it (case-insensitive, taken
   * literally), sorted by `sort` (default `priority`, the order they run in) in `order`, ties
   * by id. `total` counts every match.
   */
  list(db: Executor, orgId: string, query: RuleListQuery) {
    const where = and(eq(rules.orgId, orgId), containing(rules.name, query.q));
    return pageOf(
      db
        .select()
        .from(rules)
        .where(where)
        .orderBy(...sortedBy(rules[query.sort ?? 'priority'], query.order, rules.id))
        .limit(query.limit)
        .offset(query.offset),
      db.select({ n: count() }).from(rules).where(where),
    );
  },
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
