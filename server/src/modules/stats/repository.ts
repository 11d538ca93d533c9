import { sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';

export type DayStats = {
  date: string;
  events: number;
  mail: number;
  webhook: number;
  api: number;
  sent: number;
  failed: number;
  dead: number;
  queued: number;
};

/** Counts for the dashboard, bucketed by UTC day; every query is scoped to the org. */
export const statsRepository = {
  async perDay(db: Executor, orgId: string, from: Date, to: Date): Promise<DayStats[]> {
    const result = await db.execute(sql`
      with days as (
        select generate_series(
          date_trunc('day', ${from.toISOString()}::timestamptz at time zone 'UTC'),
          date_trunc('day', ${to.toISOString()}::timestamptz at time zone 'UTC'),
          interval '1 day'
        ) as day
      ),
      ev as (
        select date_trunc('day', received_at at time zone 'UTC') as day,
          count(*)::int as events,
          (count(*) filter (where source = 'mail'))::int as mail,
          (count(*) filter (where source = 'webhook'))::int as webhook,
          (count(*) filter (where source = 'api'))::int as api
        from events
        where org_id = ${orgId} and received_at >= ${from.toISOString()} and received_at <= ${to.toISOString()}
        group by 1
      ),
      dl as (
        select date_trunc('day', created_at at time zone 'UTC') as day,
          (count(*) filter (where status = 'sent'))::int as sent,
          (count(*) filter (where status = 'failed'))::int as failed,
          (count(*) filter (where status = 'dead'))::int as dead,
          (count(*) filter (where status in ('queued', 'sending')))::int as queued
        from deliveries
        where org_id = ${orgId} and created_at >= ${from.toISOString()} and created_at <= ${to.toISOString()}
        group by 1
      )
      select to_char(days.day, 'YYYY-MM-DD') as date,
        coalesce(ev.events, 0) as events, coalesce(ev.mail, 0) as mail,
        coalesce(ev.webhook, 0) as webhook, coalesce(ev.api, 0) as api,
        coalesce(dl.sent, 0) as sent, coalesce(dl.failed, 0) as failed,
        coalesce(dl.dead, 0) as dead, coalesce(dl.queued, 0) as queued
      from days
      left join ev on ev.day = days.day
      left join dl on dl.day = days.day
      order by days.day`);
    return result.rows as DayStats[];
  },

  /** Creation → accepted by Telegram, over the deliveries sent in the window, in ms. */
  async latency(db: Executor, orgId: string, from: Date, to: Date) {
    const result = await db.execute(sql`
      select
        percentile_cont(0.5) within group (order by extract(epoch from sent_at - created_at)) * 1000 as p50,
        percentile_cont(0.95) within group (order by extract(epoch from sent_at - created_at)) * 1000 as p95
      from deliveries
      where org_id = ${orgId} and status = 'sent' and sent_at is not null
        and created_at >= ${from.toISOString()} and created_at <= ${to.toISOString()}`);
    const row = result.rows[0] as { p50: number | null; p95: number | null } | undefined;
    const ms = (v: number | string | null | undefined) =>
      v === null || v === undefined ? null : Math.round(Number(v));
    return { p50: ms(row?.p50), p95: ms(row?.p95) };
  },
};
