import { and, count, eq } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { containing, pageOf, sortedBy } from '../../db/list-page.js';
import { mailboxes } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import type { SortedListQuery } from '../../http/list.js';

/** The fields `GET …/mailboxes?sort=` accepts. */
export const mailboxSortFields = [
  'name',
  'protocol',
  'host',
  'username',
  'enabled',
  'status',
  'lastMessageAt',
  'createdAt',
  'id',
] as const;
export type MailboxListQuery = SortedListQuery<typeof mailboxSortFields>;

export const mailboxRepository = {
  /** The org's mailbox by id; NotFound when it has none such. */
  async find(db: Executor, orgId: string, mailboxId: string) {
    const [row] = await db
      .select()
      .from(mailboxes)
      .where(and(eq(mailboxes.orgId, orgId), eq(mailboxes.id, mailboxId)));
    if (!row) throw notFound('Mailbox');
    return row;
  },
  /**
   * One page of the org's mailboxes: `q` finds a name containing it (case-insensitive, taken
   * literally), sorted by `sort` (default `name`; never-read mailboxes last by lastMessageAt)
   * in `order`, ties by id. `total` counts every match.
   */
  list(db: Executor, orgId: string, query: MailboxListQuery) {
    const where = and(eq(mailboxes.orgId, orgId), containing(mailboxes.name, query.q));
    const sort = query.sort ?? 'name';
    return pageOf(
      db
        .select()
        .from(mailboxes)
        .where(where)
        .orderBy(
          ...sortedBy(mailboxes[sort], query.order, mailboxes.id, {
            nullable: sort === 'lastMessageAt',
          }),
        )
        .limit(query.limit)
        .offset(query.offset),
      db.select({ n: count() }).from(mailboxes).where(where),
    );
  },
};
