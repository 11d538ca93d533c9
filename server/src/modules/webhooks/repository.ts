import { and, asc, count, desc, eq, ilike, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { webhooks } from '../../db/schema.js';
import type { ListQuery } from '../../http/list.js';

/** The fields `GET …/webhooks?sort=` accepts; the token and the URL (a secret) are not among them. */
export const webhookSortFields = ['name', 'enabled', 'lastCalledAt', 'createdAt', 'id'] as const;
export type WebhookListQuery = Omit<ListQuery, 'sort'> & {
  sort?: (typeof webhookSortFields)[number] | undefined;
};

export const webhookRepository = {
  /**
   * One page of the org's webhooks: `q` finds a name containing it (case-insensitive, taken
   * literally), sorted by `sort` (default `createdAt`) in `order`, ties broken by id so that
   * pages neither repeat nor skip a row. `total` counts every match.
   */
  async list(db: Executor, orgId: string, query: WebhookListQuery) {
    const where = and(
      eq(webhooks.orgId, orgId),
      query.q
        ? ilike(webhooks.name, `%${query.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
        : undefined,
    );
    const column = webhooks[query.sort ?? 'createdAt'];
    const direction = query.order === 'asc' ? asc : desc;
    const [items, [total]] = await Promise.all([
      db
        .select()
        .from(webhooks)
        .where(where)
        // never-called webhooks (lastCalledAt null) go last either way
        .orderBy(
          query.sort === 'lastCalledAt'
            ? sql`${column} ${sql.raw(query.order === 'asc' ? 'asc' : 'desc')} nulls last`
            : direction(column),
          direction(webhooks.id),
        )
        .limit(query.limit)
        .offset(query.offset),
      db.select({ n: count() }).from(webhooks).where(where),
    ]);
    return { items, total: total?.n ?? 0 };
  },
};
