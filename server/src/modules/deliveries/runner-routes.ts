import { and, eq, getTableColumns, sql } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { attachments, botChats, chats, deliveries } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import { access, runnerOf } from '../../http/access.js';
import { logRepository } from '../logs/repository.js';
import { deliveriesChannel } from '../notifications/service.js';
import { poolOf } from '../../db/client.js';
import { NotifyWaker } from '../../db/notify-waker.js';
import {
  deliveriesTotal,
  deliveryRetriesTotal,
  e2eLatencySeconds,
  sendLatencySeconds,
  telegram429Total,
} from '../../metrics.js';

export const deliveryPolicy = {
  maxAttempts: 8,
  baseBackoffMs: 1_000,
  maxBackoffMs: 10 * 60_000,
};

const claimedAttachment = z.object({
  id: z.string(),
  filename: z.string(),
  contentType: z.string(),
  size: z.number(),
  oversize: z.boolean(),
});
const claimed = z.object({
  id: z.string(),
  seq: z.number(),
  telegramChatId: z.number(),
  chatType: z.string(),
  text: z.string(),
  silent: z.boolean(),
  disableLinkPreview: z.boolean(),
  attempts: z.number(),
  attachments: z.array(claimedAttachment),
  /** Parts of this delivery Telegram already took (an earlier attempt failed after them): skip them. */
  sentMessageIds: z.array(z.number()),
});
/** What the runner saw while sending, counted into the api's metrics. */
const telemetry = z
  .object({
    rateLimited: z.number().int().min(0).max(10_000),
    sendLatencyMs: z.array(z.number().min(0).max(3_600_000)).max(1_000),
  })
  .optional();
/** Parts sent before a failure, in order: the next attempt (a manual retry too) resumes after them. */
const progress = z.array(z.number()).max(10_000).optional();
const result = z.discriminatedUnion('outcome', [
  z.object({ outcome: z.literal('sent'), messageIds: z.array(z.number()), telemetry }),
  z.object({
    outcome: z.literal('retry'),
    error: z.string(),
    retryAfterMs: z.number().int().min(0).optional(),
    messageIds: progress,
    telemetry,
  }),
  z.object({
    outcome: z.literal('migrated'),
    newChatId: z.number(),
    messageIds: progress,
    telemetry,
  }),
  z.object({
    outcome: z.literal('chat_gone'),
    reason: z.string(),
    messageIds: progress,
    telemetry,
  }),
  z.object({ outcome: z.literal('failed'), error: z.string(), messageIds: progress, telemetry }),
  z.object({
    outcome: z.literal('unknown'),
    error: z.string(),
    messageIds: progress,
    telemetry,
  }),
  // Claimed, not attempted: an earlier delivery to the chat goes again first.
  z.object({ outcome: z.literal('released'), telemetry }),
]);
export type DeliveryResult = z.infer<typeof result>;
export type ClaimedDelivery = z.infer<typeof claimed>;

/** A delivery the claim may lease now ($1: the bot). */
const claimable = (
  t: 'd' | 'e',
) => `${t}.bot_id = $1 and ((${t}.status = 'queued' and ${t}.next_attempt_at <= now())
  or (${t}.status = 'sending' and ${t}.lease_expires_at < now()))`;

/**
 * Leases up to $2 of bot $1's due deliveries in seq order for $3 ms. Per-chat order holds across
 * retries: a delivery waits while an earlier one to the same chat is still open and not
 * claimable in this same batch (a retry backing off, or one being sent by another bot).
 *
 * A named statement: each pooled connection parses and plans it once instead of on every claim
 * (planning was about 1 ms of the wake-up's claim, more than executing it).
 *
 * Its commit does not wait for the WAL flush (synchronous_commit off for this transaction
 * alone; ≈ 1 ms of every wake-up). A lease is not accepted data: if PostgreSQL crashes before
 * the flush (≤ wal_writer_delay), the delivery is simply queued again, unclaimed — a runner
 * still holding it skips it when claimed again (sender.ts), one that sent it reports `sent`
 * as it would have, and one that could not report it resends it, exactly as it would after
 * a durable lease expired. Reports, which are what was sent, stay durable.
 */
export const claimStatement = {
  name: 'np_deliveries_claim',
  text: `
    with picked as (
      select d.id from deliveries d
      where ${claimable('d')}
        and not exists (
          select 1 from deliveries e
          where e.chat_id = d.chat_id and e.seq < d.seq and e.status in ('queued', 'sending')
            and not (${claimable('e')}))
      order by d.seq
      limit $2
      for update skip locked
    )
    update deliveries d set status = 'sending', attempts = d.attempts + 1,
      lease_expires_at = now() + ($3 * interval '1 millisecond'), updated_at = now()
    from picked, notifications n, chats c,
      (select set_config('synchronous_commit', 'off', true)) as lease_commit
    where d.id = picked.id and n.id = d.notification_id and c.id = d.chat_id
    returning d.id, d.seq, d.notification_id, c.telegram_chat_id, c.type, n.text, n.options, d.attempts,
      d.telegram_message_ids,
      -- the files with the claim: one round trip (the notifications(id) index; few rows)
      (select coalesce(json_agg(json_build_object('id', a.id, 'filename', a.filename,
          'contentType', a.content_type, 'size', a.size, 'stored', octet_length(a.content))
          order by a.position), '[]')
        from attachments a where a.notification_id = d.notification_id) as files`,
};

export function backoffMs(attempts: number) {
  const exp = Math.min(
    deliveryPolicy.maxBackoffMs,
    deliveryPolicy.baseBackoffMs * 2 ** Math.max(0, attempts - 1),
  );
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

export const deliveryRunnerRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { db } = deps;
    const pool = poolOf(db);
    const waker = new NotifyWaker(deps.config.databaseUrl, deliveriesChannel);
    app.addHook('preClose', () => waker.close());

    const uploadLimit = deps.config.telegramUploadLimitBytes;
    const leaseMs = deps.config.deliveryLeaseSeconds * 1000;

    /** Leases the bot's due deliveries in seq order (claimStatement). */
    async function claim(botId: string, limit: number): Promise<ClaimedDelivery[]> {
      const rows = await pool.query({
        name: claimStatement.name,
        text: claimStatement.text,
        values: [botId, limit, leaseMs],
      });
      const got = rows.rows as Array<Record<string, unknown>>;
      type File = {
        id: string;
        filename: string;
        contentType: string;
        size: number;
        stored: number;
      };
      return got
        .map((r) => {
          const options = (r.options ?? {}) as { silent?: boolean; disableLinkPreview?: boolean };
          return {
            id: String(r.id),
            seq: Number(r.seq),
            telegramChatId: Number(r.telegram_chat_id),
            chatType: String(r.type),
            text: String(r.text),
            silent: !!options.silent,
            disableLinkPreview: !!options.disableLinkPreview,
            attempts: Number(r.attempts),
            sentMessageIds: Array.isArray(r.telegram_message_ids)
              ? (r.telegram_message_ids as number[])
              : [],
            attachments: (r.files as File[]).map((f) => ({
              id: f.id,
              filename: f.filename,
              contentType: f.contentType,
              size: f.size,
              oversize: f.size > uploadLimit || Number(f.stored) < f.size,
            })),
          };
        })
        .sort((a, b) => a.seq - b.seq);
    }

    // The runner renews the leases of what it still holds (waiting for a group's 20/min, a
    // long backlog): a lease then expires only when its runner is gone, and re-claiming it is
    // a real new attempt — not one per lease period spent waiting in the runner's queue.
    app.post('/deliveries/renew', {
      config: access.runner,
      schema: {
        tags: ['internal'],
        body: z.object({ ids: z.array(z.string().uuid()).max(5_000) }),
        response: { 200: z.object({ renewed: z.number(), leaseMs: z.number() }) },
      },
      handler: async (request) => {
        const { botId } = runnerOf(request);
        const { ids } = request.body;
        if (!ids.length) return { renewed: 0, leaseMs };
        const result = await pool.query(
          `update deliveries set lease_expires_at = now() + ($3 * interval '1 millisecond')
            where bot_id = $1 and status = 'sending' and id = any($2::uuid[])`,
          [botId, ids, leaseMs],
        );
        return { renewed: result.rowCount ?? 0, leaseMs };
      },
    });

    app.post('/deliveries/claim', {
      config: access.runner,
      schema: {
        tags: ['internal'],
        body: z.object({
          limit: z.number().int().min(1).max(500).default(50),
          waitMs: z.number().int().min(0).max(60_000).default(0),
        }),
        response: { 200: z.object({ deliveries: z.array(claimed) }) },
      },
      handler: async (request, reply) => {
        const { botId } = runnerOf(request);
        // Woken by NOTIFY; the 1 s recheck lets expired leases and due retries become visible.
        const deliveries = await waker.poll(
          botId,
          { waitMs: request.body.waitMs, recheckMs: 1_000, reply },
          () => claim(botId, request.body.limit),
        );
        return { deliveries };
      },
    });

    app.post('/deliveries/:id/result', {
      config: access.runner,
      schema: {
        tags: ['internal'],
        params: z.object({ id: z.string().uuid() }),
        body: result,
        response: { 200: z.object({ status: z.string() }) },
      },
      handler: async (request) => {
        const { botId, orgId } = runnerOf(request);
        const r = request.body;
        let retried: 'error' | 'unknown' | 'migrated' | 'handover' | undefined;
        let createdAt: Date | undefined;
        let source: string | undefined;
        const outcome = await db.transaction(async (tx) => {
          const [d] = await tx
            .select({
              ...getTableColumns(deliveries),
              // the e2e latency metric's label, in the same round trip (no lock on notifications)
              source: sql<string>`(select n.source from notifications n where n.id = ${deliveries.notificationId})`,
            })
            .from(deliveries)
            .where(and(eq(deliveries.id, request.params.id), eq(deliveries.botId, botId)))
            .for('update');
          if (!d) throw notFound('Delivery');
          // A report is of the attempt holding the lease (`sending`). A repeat — the runner
          // retries one whose answer it did not get — or a late one changes nothing and is
          // answered with the status as it is; except `sent` for a delivery queued again, which
          // is what Telegram has: taking it keeps the message from going twice.
          if (d.status !== 'sending' && !(d.status === 'queued' && r.outcome === 'sent'))
            return { status: d.status, repeated: true };
          createdAt = d.createdAt;
          source = d.source;
          const now = new Date();
          // Parts already sent are kept (a retry resumes after them), never forgotten.
          const sentSoFar =
            'messageIds' in r && r.messageIds?.length ? { telegramMessageIds: r.messageIds } : {};
          const set = (values: Partial<typeof deliveries.$inferInsert>) =>
            tx
              .update(deliveries)
              .set({ ...sentSoFar, ...values, leaseExpiresAt: null, updatedAt: now })
              .where(eq(deliveries.id, d.id));
          const dead = async (error: string) => {
            await set({ status: 'dead', lastError: error });
            await logRepository.write(tx, orgId, {
              level: 'error',
              source: 'delivery',
              message: `Delivery dead after ${d.attempts} attempts: ${error}`,
              context: { deliveryId: d.id, chatId: d.chatId, botId },
            });
            return { status: 'dead' };
          };
          // Telegram refused it for good (chat gone, bad request): no retry, so the log says it
          const failed = async (error: string) => {
            await set({ status: 'failed', lastError: error });
            await logRepository.write(tx, orgId, {
              level: 'error',
              source: 'delivery',
              message: `Delivery failed: ${error}`,
              context: { deliveryId: d.id, chatId: d.chatId, botId },
            });
            return { status: 'failed' };
          };
          const apply = async (): Promise<{ status: string }> => {
            switch (r.outcome) {
              case 'released':
                await set({
                  status: 'queued',
                  attempts: Math.max(0, d.attempts - 1),
                  nextAttemptAt: now,
                });
                await tx.execute(sql`select pg_notify(${deliveriesChannel}, ${botId})`);
                return { status: 'queued' };
              case 'sent':
                await set({
                  status: 'sent',
                  telegramMessageIds: r.messageIds,
                  sentAt: now,
                  lastError: null,
                });
                return { status: 'sent' };
              case 'retry': {
                if (d.attempts >= deliveryPolicy.maxAttempts) return dead(r.error);
                const delay = Math.max(r.retryAfterMs ?? 0, backoffMs(d.attempts));
                retried = 'error';
                await set({
                  status: 'queued',
                  lastError: r.error,
                  nextAttemptAt: new Date(now.getTime() + delay),
                });
                return { status: 'queued' };
              }
              case 'unknown': {
                // Outcome unknown (sent maybe): one more attempt at most, never blindly repeated.
                if (d.lastError?.startsWith('unknown:') || d.attempts >= deliveryPolicy.maxAttempts)
                  return dead(`unknown: ${r.error}`);
                retried = 'unknown';
                await set({
                  status: 'queued',
                  lastError: `unknown: ${r.error}`,
                  nextAttemptAt: new Date(now.getTime() + backoffMs(d.attempts)),
                });
                return { status: 'queued' };
              }
              case 'migrated':
                retried = 'migrated';
                await tx
                  .update(chats)
                  .set({ telegramChatId: r.newChatId, type: 'supergroup', updatedAt: now })
                  .where(eq(chats.id, d.chatId));
                await set({
                  status: 'queued',
                  nextAttemptAt: now,
                  lastError: 'migrated',
                  attempts: Math.max(0, d.attempts - 1),
                });
                await tx.execute(sql`select pg_notify(${deliveriesChannel}, ${botId})`);
                return { status: 'queued' };
              case 'chat_gone': {
                await tx
                  .update(botChats)
                  .set({ status: 'inactive', reason: r.reason, updatedAt: now })
                  .where(and(eq(botChats.botId, botId), eq(botChats.chatId, d.chatId)));
                const other = await tx.execute(sql`
              select bc.bot_id from bot_chats bc join bots b on b.id = bc.bot_id
              where bc.chat_id = ${d.chatId} and bc.status = 'active' and b.enabled and bc.bot_id <> ${botId}
              order by (b.status = 'running') desc limit 1`);
                const next = (other.rows[0] as { bot_id?: string } | undefined)?.bot_id;
                if (next) {
                  retried = 'handover';
                  await set({
                    status: 'queued',
                    botId: next,
                    nextAttemptAt: now,
                    lastError: r.reason,
                  });
                  await tx.execute(sql`select pg_notify(${deliveriesChannel}, ${next})`);
                  return { status: 'queued' };
                }
                const [{ n } = { n: 0 }] = (
                  await tx.execute(
                    sql`select count(*)::int as n from bot_chats where chat_id = ${d.chatId} and status = 'active'`,
                  )
                ).rows as Array<{ n: number }>;
                if (!n)
                  await tx
                    .update(chats)
                    .set({ status: 'inactive', updatedAt: now })
                    .where(eq(chats.id, d.chatId));
                return failed(r.reason);
              }
              case 'failed':
                return failed(r.error);
            }
          };
          const status = await apply();
          if (status.status !== 'queued') {
            // The chat's next delivery was held behind this one: wake the bot that has it.
            const next = await tx.execute(sql`
              select bot_id from deliveries
              where chat_id = ${d.chatId} and status = 'queued' and seq > ${d.seq} and bot_id is not null
              order by seq limit 1`);
            const nextBot = (next.rows[0] as { bot_id?: string } | undefined)?.bot_id;
            if (nextBot) await tx.execute(sql`select pg_notify(${deliveriesChannel}, ${nextBot})`);
          }
          return status;
        });
        if ('repeated' in outcome) return { status: outcome.status };
        recordResult(r, outcome.status, retried, createdAt, source);
        return outcome;
      },
    });

    app.get('/attachments/:id', {
      config: access.runner,
      schema: { tags: ['internal'], params: z.object({ id: z.string().uuid() }) },
      handler: async (request, reply) => {
        const { botId } = runnerOf(request);
        // Only a file of a notification this bot has a delivery of.
        const [file] = await db
          .select({ content: attachments.content })
          .from(attachments)
          .where(
            and(
              eq(attachments.id, request.params.id),
              sql`exists (select 1 from deliveries d where d.notification_id = ${attachments.notificationId} and d.bot_id = ${botId})`,
            ),
          );
        if (!file) throw notFound('Attachment');
        return reply.type('application/octet-stream').send(file.content);
      },
    });
  };

/** Counts a reported result once its transaction committed. */
function recordResult(
  r: DeliveryResult,
  status: string,
  retried: 'error' | 'unknown' | 'migrated' | 'handover' | undefined,
  createdAt: Date | undefined,
  source: string | undefined,
) {
  if (r.telemetry) {
    if (r.telemetry.rateLimited) telegram429Total.inc(r.telemetry.rateLimited);
    for (const ms of r.telemetry.sendLatencyMs) sendLatencySeconds.observe(ms / 1000);
  }
  if (r.outcome === 'released') return;
  if (status === 'queued') {
    if (retried) deliveryRetriesTotal.inc({ reason: retried });
    return;
  }
  deliveriesTotal.inc({ status });
  if (status === 'sent' && createdAt)
    e2eLatencySeconds.observe(
      { source: source ?? 'unknown' },
      (Date.now() - createdAt.getTime()) / 1000,
    );
}
