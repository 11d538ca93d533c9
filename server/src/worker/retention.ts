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
  /** One batch for one org (or rows without one, `orgId` null); returns the rows touched. */
  batch: (orgId: string | null, cutoff: Date, limit: number) => SQL;
  /** Rows without an organization too (logs, audit log: system entries). */
  systemRows?: boolean;
};

const orgIs = (column: SQL, orgId: string | null) =>
  orgId === null ? sql`${column} is null` : sql`${column} = ${orgId}`;

const rules: Rule[] = [
  {
    name: 'deliveries',
    days: (r) => r.deliveryDays,
    batch: (orgId, cutoff, limit) => sql`
      delete from deliveries where id in (
        select id from deliveries
        where ${orgIs(sql`org_id`, orgId)} and created_at < ${cutoff}
          and status in ('sent', 'failed', 'dead')
        limit ${limit})`,
  },
  {
    name: 'notifications',
    days: (r) => r.notificationDays,
    batch: (orgId, cutoff, limit) => sql`
      delete from notifications where id in (
        select n.id from notifications n
        where ${orgIs(sql`n.org_id`, orgId)} and n.created_at < ${cutoff}
          and not exists (select 1 from deliveries d
            where d.notification_id = n.id and d.status in ('queued', 'sending'))
        limit ${limit})`,
  },
  {
    name: 'events',
    days: (r) => r.eventDays,
    batch: (orgId, cutoff, limit) => sql`
      delete from events where id in (
        select id from events where ${orgIs(sql`org_id`, orgId)} and created_at < ${cutoff}
        limit ${limit})`,
  },
  {
    name: 'rawMail',
    days: (r) => r.rawMailDays,
    batch: (orgId, cutoff, limit) => sql`
      update events set raw = null where id in (
        select id from events
        where ${orgIs(sql`org_id`, orgId)} and created_at < ${cutoff} and raw is not null
        limit ${limit})`,
  },
  {
    name: 'logs',
    days: (r) => r.logDays,
    systemRows: true,
    batch: (orgId, cutoff, limit) => sql`
      delete from logs where id in (
        select id from logs where ${orgIs(sql`org_id`, orgId)} and created_at < ${cutoff}
        limit ${limit})`,
  },
  {
    name: 'auditLog',
    days: (r) => r.auditLogDays,
    systemRows: true,
    batch: (orgId, cutoff, limit) => sql`
      delete from audit_log where id in (
        select id from audit_log where ${orgIs(sql`org_id`, orgId)} and created_at < ${cutoff}
        limit ${limit})`,
  },
  {
    name: 'alerts',
    days: (r) => r.alertDays,
    batch: (orgId, cutoff, limit) => sql`
      delete from alerts where id in (
        select id from alerts
        where ${orgIs(sql`org_id`, orgId)} and resolved_at < ${cutoff}
        limit ${limit})`,
  },
  {
    // per bot (the table's key); the org parameter carries the bot id here
    name: 'telegramUpdates',
    days: (r) => r.telegramUpdateDays,
    batch: (botId, cutoff, limit) => sql`
      delete from telegram_updates where ctid = any(array(
        select ctid from telegram_updates
        where bot_id = ${botId} and processed_at < ${cutoff}
        limit ${limit}))`,
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
      for (;;) {
        if (options.shouldStop?.()) return figures;
        const n = (await db.execute(rule.batch(scope, cutoff, limit))).rowCount ?? 0;
        total += n;
        if (n < limit) break;
      }
    }
    figures[rule.name] = total;
  }
  return figures;
}
