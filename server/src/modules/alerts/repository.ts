import { and, count, desc, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { alerts, botChats, bots, organizations, type AlertKind } from '../../db/schema.js';
import type { ListQuery } from '../../http/list.js';

export type Alert = typeof alerts.$inferSelect;
/** A failing subject found by the housekeeping: what an open alert stands for. */
export type AlertCondition = {
  orgId: string;
  kind: AlertKind;
  subjectId: string;
  subjectName: string | null;
  detail: string | null;
  /** Deliveries: how many failed within the org's threshold. */
  failures?: number;
};
export type AlertFilter = ListQuery & { status: 'open' | 'resolved' };

// The org's alert threshold in SQL (settings.alertAfterMinutes, default 15).
const thresholdOf = (settings: unknown) =>
  sql`make_interval(mins => case when jsonb_typeof(${settings} -> 'alertAfterMinutes') = 'number'
    then (${settings} ->> 'alertAfterMinutes')::int else ${DEFAULT_ALERT_AFTER_MINUTES} end)`;

export const DEFAULT_ALERT_AFTER_MINUTES = 15;
/** The longest alertAfterMinutes the settings accept. */
export const MAX_ALERT_AFTER_MINUTES = 1440;
export const DEFAULT_ALERT_REMINDER_HOURS = 24;

export const alertRepository = {
  /** The org's fired alerts (pending ones, not yet over the threshold, are not shown). */
  async list(db: Executor, orgId: string, query: AlertFilter) {
    const where = and(
      eq(alerts.orgId, orgId),
      isNotNull(alerts.firedAt),
      query.status === 'open' ? isNull(alerts.resolvedAt) : isNotNull(alerts.resolvedAt),
    );
    const [items, [total]] = await Promise.all([
      db
        .select()
        .from(alerts)
        .where(where)
        .orderBy(query.order === 'asc' ? alerts.openedAt : desc(alerts.openedAt))
        .limit(query.limit)
        .offset(query.offset),
      db.select({ n: count() }).from(alerts).where(where),
    ]);
    return { items, total: total?.n ?? 0 };
  },

  // ---- housekeeping (installation-wide by design: one pass over every organization) ----

  async openAll(db: Executor): Promise<Alert[]> {
    return db.select().from(alerts).where(isNull(alerts.resolvedAt));
  },

  /** Enabled bots in error, or whose runner has been silent longer than `staleSeconds`. */
  async failingBots(db: Executor, staleSeconds: number): Promise<AlertCondition[]> {
    const rows = await db
      .select({
        orgId: bots.orgId,
        subjectId: bots.id,
        subjectName: bots.name,
        status: bots.status,
        lastError: bots.lastError,
        lastHeartbeatAt: bots.lastHeartbeatAt,
      })
      .from(bots)
      .where(
        and(
          eq(bots.enabled, true),
          sql`(${bots.status} = 'error' or coalesce(${bots.lastHeartbeatAt}, ${bots.updatedAt}) < now() - make_interval(secs => ${staleSeconds}))`,
        ),
      );
    return rows.map((r) => ({
      orgId: r.orgId,
      kind: 'bot' as const,
      subjectId: r.subjectId,
      subjectName: r.subjectName,
      detail:
        r.status === 'error'
          ? (r.lastError ?? 'error')
          : r.lastHeartbeatAt
            ? `no heartbeat since ${r.lastHeartbeatAt.toISOString()}`
            : 'its runner has not started',
    }));
  },

  async failingMailboxes(db: Executor): Promise<AlertCondition[]> {
    const rows = (
      await db.execute(sql`
        select org_id, id, name, last_error from mailboxes where enabled and status = 'error'`)
    ).rows as Array<{ org_id: string; id: string; name: string; last_error: string | null }>;
    return rows.map((r) => ({
      orgId: r.org_id,
      kind: 'mailbox' as const,
      subjectId: r.id,
      subjectName: r.name,
      detail: r.last_error,
    }));
  },

  /**
   * Per org: deliveries that ended failed or dead within the org's threshold, or that have
   * been retrying for longer than it. The subject is the organization.
   */
  async failingDeliveries(db: Executor): Promise<AlertCondition[]> {
    const rows = (
      await db.execute(sql`
        select d.org_id, count(*)::int as n,
          (array_agg(d.last_error order by d.updated_at desc))[1] as last_error
        from (
          -- ended badly lately: deliveries_failed_idx (no threshold is longer than the max)
          select org_id, last_error, updated_at, created_at, true as ended from deliveries
          where status in ('failed', 'dead')
            and updated_at > now() - make_interval(mins => ${MAX_ALERT_AFTER_MINUTES})
          union all
          -- still retrying: the open deliveries' partial index
          select org_id, last_error, updated_at, created_at, false as ended from deliveries
          where status in ('queued', 'sending') and attempts > 0
        ) d join organizations o on o.id = d.org_id
        where case when d.ended then d.updated_at > now() - ${thresholdOf(sql`o.settings`)}
          else d.created_at < now() - ${thresholdOf(sql`o.settings`)} end
        group by d.org_id`)
    ).rows as Array<{ org_id: string; n: number; last_error: string | null }>;
    return rows.map((r) => ({
      orgId: r.org_id,
      kind: 'deliveries' as const,
      subjectId: r.org_id,
      subjectName: null,
      detail: r.last_error,
      failures: r.n,
    }));
  },

  async settingsOf(db: Executor, orgIds: string[]) {
    if (!orgIds.length) return new Map<string, Record<string, unknown>>();
    const rows = await db
      .select({ id: organizations.id, settings: organizations.settings })
      .from(organizations)
      .where(inArray(organizations.id, orgIds));
    return new Map(rows.map((r) => [r.id, r.settings]));
  },

  /** The org's enabled bots that can post to a chat, with their health. */
  async botsForChat(db: Executor, orgId: string, chatId: string) {
    return db
      .select({ id: bots.id, status: bots.status, lastHeartbeatAt: bots.lastHeartbeatAt })
      .from(botChats)
      .innerJoin(bots, eq(bots.id, botChats.botId))
      .where(
        and(
          eq(botChats.orgId, orgId),
          eq(botChats.chatId, chatId),
          eq(botChats.status, 'active'),
          eq(bots.enabled, true),
        ),
      );
  },

  /** Opens an alert; null when one is already open for the subject (another replica won). */
  async open(db: Executor, c: AlertCondition, fired: boolean) {
    const now = new Date();
    const [row] = await db
      .insert(alerts)
      .values({
        orgId: c.orgId,
        kind: c.kind,
        subjectId: c.subjectId,
        subjectName: c.subjectName,
        detail: c.detail,
        openedAt: now,
        firedAt: fired ? now : null,
      })
      .onConflictDoNothing()
      .returning();
    return row ?? null;
  },

  async update(
    db: Executor,
    orgId: string,
    id: string,
    values: Partial<
      Pick<Alert, 'subjectName' | 'detail' | 'firedAt' | 'lastNotifiedAt' | 'resolvedAt'>
    >,
  ) {
    await db
      .update(alerts)
      .set(values)
      .where(and(eq(alerts.orgId, orgId), eq(alerts.id, id)));
  },

  /** A pending alert whose condition cleared before it fired leaves no trace. */
  async discard(db: Executor, orgId: string, id: string) {
    await db.delete(alerts).where(and(eq(alerts.orgId, orgId), eq(alerts.id, id)));
  },
};
