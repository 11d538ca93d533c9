/**
 * Retention: what is older than its configured days goes, a batch at a time (one short
 * statement per `batchSize` rows, so locks stay short and autovacuum keeps up), per
 * organization on the (org_id, created_at) indexes. 0 days keeps a kind forever.
 *
 * Raw mail (events.raw) is cleared and the event kept; finished deliveries only (never
 * queued or sending); a notification only once none of its deliveries is open (its files
 * go with it); Telegram updates only once processed; alerts only once resolved.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Database } from '../db/client.js';

export type RetentionFigures = Record<string, number>;

type Rule = {
  name: string;
  days: (r: Config['retention']) => number;
  /**
   * One batch for one org (or rows without one, `orgId` null), in key order from `from` on
   * (inclusive; null: the start), `returning <key> as k`: the next batch starts at the last
   * key, so no batch rescans what the ones before it deleted (dead until vacuum). The outer
   * statement takes `= any(array(…))`: a primary-key (or ctid) lookup per row, never a scan.
   */
  batch: (orgId: string | null, cutoff: Date, limit: number, from: unknown) => SQL;
  /** Rows without an organization too (logs, audit log: system entries). */
  systemRows?: boolean;
};

const orgIs = (column: SQL, orgId: string | null) =>
  orgId === null ? sql`${column} is null` : sql`${column} = ${orgId}`;
const since = (column: SQL, from: unknown) =>
  from === null ? sql`true` : sql`${column} >= ${from}`;

/** Deletes (by id) the oldest `limit` rows of `table` matching `where`, by created_at. */
const deleteOldest = (table: string, where: SQL, from: unknown, limit: number) => sql`
  delete from ${sql.raw(table)} where id = any(array(
    select id from ${sql.raw(table)} t
    where ${where} and ${since(sql`t.created_at`, from)}
    order by t.created_at limit ${limit}))
  returning created_at as k`;

const rules: Rule[] = [
  {
    name: 'deliveries',
    days: (r) => r.deliveryDays,
    batch: (orgId, cutoff, limit, from) =>
      deleteOldest(
        'deliveries',
        sql`${orgIs(sql`t.org_id`, orgId)} and t.created_at < ${cutoff}
          and t.status in ('sent', 'failed', 'dead')`,
        from,
        limit,
      ),
  },
  {
    name: 'notifications',
    days: (r) => r.notificationDays,
    batch: (orgId, cutoff, limit, from) =>
      deleteOldest(
        'notifications',
        sql`${orgIs(sql`t.org_id`, orgId)} and t.created_at < ${cutoff}
          and not exists (select 1 from deliveries d
            where d.notification_id = t.id and d.status in ('queued', 'sending'))`,
        from,
        limit,
      ),
  },
  {
    name: 'events',
    days: (r) => r.eventDays,
    batch: (orgId, cutoff, limit, from) =>
      deleteOldest(
        'events',
        sql`${orgIs(sql`t.org_id`, orgId)} and t.created_at < ${cutoff}`,
        from,
        limit,
      ),
  },
  {
    name: 'rawMail',
    days: (r) => r.rawMailDays,
    batch: (orgId, cutoff, limit, from) => sql`
      update events set raw = null where id = any(array(
        select id from events t
        where ${orgIs(sql`t.org_id`, orgId)} and t.created_at < ${cutoff} and t.raw is not null
          and ${since(sql`t.created_at`, from)}
        order by t.created_at limit ${limit}))
      returning created_at as k`,
  },
  {
    name: 'logs',
    days: (r) => r.logDays,
    systemRows: true,
    batch: (orgId, cutoff, limit, from) =>
      deleteOldest(
        'logs',
        sql`${orgIs(sql`t.org_id`, orgId)} and t.created_at < ${cutoff}`,
        from,
        limit,
      ),
  },
  {
    name: 'auditLog',
    days: (r) => r.auditLogDays,
    systemRows: true,
    batch: (orgId, cutoff, limit, from) =>
      deleteOldest(
        'audit_log',
        sql`${orgIs(sql`t.org_id`, orgId)} and t.created_at < ${cutoff}`,
        from,
        limit,
      ),
  },
  {
    name: 'alerts',
    days: (r) => r.alertDays,
    batch: (orgId, cutoff, limit, from) => sql`
      delete from alerts where id = any(array(
        select id from alerts t
        where ${orgIs(sql`t.org_id`, orgId)} and t.resolved_at < ${cutoff}
          and ${since(sql`t.resolved_at`, from)}
        order by t.resolved_at limit ${limit}))
      returning resolved_at as k`,
  },
  {
    // per bot, along the table's key (bot_id, update_id); the org parameter carries the bot id
    name: 'telegramUpdates',
    days: (r) => r.telegramUpdateDays,
    batch: (botId, cutoff, limit, from) => sql`
      delete from telegram_updates where ctid = any(array(
        select ctid from telegram_updates t
        where t.bot_id = ${botId} and t.processed_at < ${cutoff}
          and ${since(sql`t.update_id`, from)}
        order by t.update_id limit ${limit}))
      returning update_id::float8 as k`,
  },
];

/**
 * Runs every rule to the end (batch after batch until one comes back short), or until
 * `shouldStop` says so between batches. Returns rows deleted (raw mail: cleared) per kind.
 */
export async function applyRetention(
  db: Database,
  retention: Config['retention'],
  options: { now?: Date; shouldStop?: () => boolean } = {},
): Promise<RetentionFigures> {
  const now = options.now ?? new Date();
  const limit = retention.batchSize;
  const figures: RetentionFigures = {};
  const ids = async (query: SQL) =>
    ((await db.execute(query)).rows as Array<{ id: string }>).map((r) => r.id);
  const orgIds = await ids(sql`select id from organizations order by id`);
  const botIds = await ids(sql`select id from bots order by id`);
  for (const rule of rules) {
    const days = rule.days(retention);
    if (!(days > 0)) continue;
    const cutoff = new Date(now.getTime() - days * 86_400_000);
    const scopes: Array<string | null> =
      rule.name === 'telegramUpdates' ? botIds : [...orgIds, ...(rule.systemRows ? [null] : [])];
    let total = 0;
    for (const scope of scopes) {
      let from: unknown = null;
      for (;;) {
        if (options.shouldStop?.()) return figures;
        const touched = (await db.execute(rule.batch(scope, cutoff, limit, from))).rows as Array<{
          k: unknown;
        }>;
        total += touched.length;
        if (touched.length < limit) break;
        from = touched.reduce<unknown>((max, r) => (max === null || r.k! > max! ? r.k : max), null);
      }
    }
    figures[rule.name] = total;
  }
  return figures;
}
