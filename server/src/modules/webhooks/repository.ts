import { and, count, eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { containing, pageOf, sortedBy } from '../../db/list-page.js';
import { webhooks } from '../../db/schema.js';
import type { SortedListQuery } from '../../http/list.js';

/** The fields `GET …/webhooks?sort=` accepts; the token and the URL (a secret) are not among them. */
export const webhookSortFields = ['name', 'enabled', 'lastCalledAt', 'createdAt', 'id'] as const;
export type WebhookListQuery = SortedListQuery<typeof webhookSortFields>;

export const webhookRepository = {
  /**
   * One page of the org's webhooks: `q` finds a name containing it (case-insensitive, taken
   * literally), sorted by `sort` (default `createdAt`) in `order`, ties broken by id so that
   * pages neither repeat nor skip a row. `total` counts every match.
   */
  list(db: Executor, orgId: string, query: WebhookListQuery) {
    const where = and(eq(webhooks.orgId, orgId), containing(webhooks.name, query.q));
    const sort = query.sort ?? 'createdAt';
    return pageOf(
      db
        .select()
        .from(webhooks)
        .where(where)
        // never-called webhooks (lastCalledAt null) go last either way
        .orderBy(
          ...sortedBy(webhooks[sort], query.order, webhooks.id, {
            nullable: sort === 'lastCalledAt',
          }),
        )
        .limit(query.limit)
        .offset(query.offset),
      db.select({ n: count() }).from(webhooks).where(where),
    );
  },
};
