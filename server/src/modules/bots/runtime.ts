import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Database } from '../../db/client.js';
import { bots, telegramUpdates } from '../../db/schema.js';
import { generateToken, hashToken, safeEqual } from '../../crypto/secrets.js';
import { logRepository } from '../logs/repository.js';

/** NOTIFY channel: payload = bot id, "updates for this bot are stored". */
export const updatesChannel = 'np_updates';

export type TelegramUpdate = { update_id: number } & Record<string, unknown>;

/**
 * The bots' runtime state as the supervisor and the runners see it through /internal/v1:
 * credentials, heartbeats, statuses and the stored Telegram updates. Runners never touch the
 * database; this is their side of it.
 */
export function createBotRuntime(db: Database) {
  return {
    /** Every bot, for the supervisor to reconcile its runners against. */
    desired: () =>
      db
        .select({
          id: bots.id,
          orgId: bots.orgId,
          name: bots.name,
          enabled: bots.enabled,
          revision: bots.revision,
          mode: bots.mode,
          status: bots.status,
          lastHeartbeatAt: bots.lastHeartbeatAt,
          lastError: bots.lastError,
        })
        .from(bots)
        .orderBy(asc(bots.createdAt)),

    /** A new runner credential; the previous runner's stops working (one runner per bot). */
    async issueCredential(botId: string) {
      const token = generateToken('npr');
      const [row] = await db
        .update(bots)
        .set({
          runnerTokenHash: hashToken(token),
          lastHeartbeatAt: null,
          status: sql`case when ${bots.status} = 'error' then 'error' else 'starting' end`,
        })
        .where(eq(bots.id, botId))
        .returning({ id: bots.id });
      return row ? token : null;
    },

    /** The supervisor's view (starting, error after repeated crashes, stopped); logged when it is an error. */
    async setStatus(
      botId: string,
      status: 'starting' | 'error' | 'stopped',
      error: string | null | undefined,
    ) {
      await db.transaction(async (tx) => {
        const [row] = await tx
          .update(bots)
          .set({ status, ...(error !== undefined ? { lastError: error } : {}) })
          .where(eq(bots.id, botId))
          .returning({ orgId: bots.orgId, name: bots.name });
        if (row && status === 'error')
          await logRepository.write(tx, row.orgId, {
            level: 'error',
            source: 'bot',
            message: `Bot ${row.name} stopped: ${error ?? 'unknown error'}`,
            context: { botId },
          });
      });
    },

    /**
     * A runner's heartbeat; a disabled bot stays `stopped` whatever its runner says. A new
     * error (Telegram refused the token…) and the recovery from one go to the org's log.
     */
    async heartbeat(botId: string, status: 'running' | 'error', error: string | null) {
      // one statement: the FROM subquery reads the row as it was before this update
      const [row] = (
        await db.execute(sql`
          update bots b set
            status = case when b.enabled then ${status} else 'stopped' end,
            last_heartbeat_at = now(),
            last_error = ${error}
          from (select id, status, last_error from bots where id = ${botId} for update) prev
          where b.id = prev.id
          returning b.org_id, b.name, b.enabled, b.revision,
            prev.status as prev_status, prev.last_error as prev_error`)
      ).rows as Array<{
        org_id: string;
        name: string;
        enabled: boolean;
        revision: number;
        prev_status: string;
        prev_error: string | null;
      }>;
      if (!row) return null;
      const failing = row.enabled && status === 'error';
      if (failing && (row.prev_status !== 'error' || row.prev_error !== error))
        await logRepository.write(db, row.org_id, {
          level: 'error',
          source: 'bot',
          message: `Bot ${row.name}: ${error ?? 'error'}`,
          context: { botId },
        });
      else if (row.enabled && status === 'running' && row.prev_status === 'error')
        await logRepository.write(db, row.org_id, {
          level: 'info',
          source: 'bot',
          message: `Bot ${row.name} is running again`,
          context: { botId },
        });
      return { enabled: row.enabled, revision: row.revision };
    },

    async botForRunner(botId: string) {
      const [row] = await db.select().from(bots).where(eq(bots.id, botId));
      return row ?? null;
    },

    /** Stores updates once per (bot, update_id): Telegram's repeats are dropped here. */
    async storeUpdates(botId: string, updates: TelegramUpdate[]) {
      if (!updates.length) return 0;
      return db.transaction(async (tx) => {
        const rows = await tx
          .insert(telegramUpdates)
          .values(updates.map((u) => ({ botId, updateId: u.update_id, payload: u })))
          .onConflictDoNothing()
          .returning({ updateId: telegramUpdates.updateId });
        if (rows.length) await tx.execute(sql`select pg_notify(${updatesChannel}, ${botId})`);
        return rows.length;
      });
    },

    pendingUpdates: (botId: string, limit: number) =>
      db
        .select({ updateId: telegramUpdates.updateId, payload: telegramUpdates.payload })
        .from(telegramUpdates)
        .where(and(eq(telegramUpdates.botId, botId), isNull(telegramUpdates.processedAt)))
        .orderBy(asc(telegramUpdates.updateId))
        .limit(limit),

    async markProcessed(botId: string, updateIds: number[]) {
      if (!updateIds.length) return;
      await db
        .update(telegramUpdates)
        .set({ processedAt: new Date() })
        .where(and(eq(telegramUpdates.botId, botId), inArray(telegramUpdates.updateId, updateIds)));
    },

    /** The webhook secret check: constant-time over the stored hash; unknown bots look the same. */
    async webhookBot(botId: string, secretHeader: string | undefined) {
      const [row] = await db
        .select({ id: bots.id, mode: bots.mode, webhookSecret: bots.webhookSecret })
        .from(bots)
        .where(eq(bots.id, botId));
      const expected = row?.webhookSecret ?? hashToken('no bot');
      const ok = safeEqual(hashToken(secretHeader ?? ''), expected);
      return ok && row?.mode === 'webhook' ? row.id : null;
    },
  };
}
export type BotRuntime = ReturnType<typeof createBotRuntime>;
