import { and, eq, sql } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { botChats, chats, deliveries } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import { access, runnerOf } from '../../http/access.js';
import { logRepository } from '../logs/repository.js';
import { deliveriesChannel } from '../notifications/service.js';
import { NotifyWaker } from '../../db/notify-waker.js';

export const deliveryPolicy = {
  leaseMs: 60_000,
  maxAttempts: 8,
  baseBackoffMs: 1_000,
  maxBackoffMs: 10 * 60_000,
};

const claimed = z.object({
  id: z.string(),
  seq: z.number(),
  telegramChatId: z.number(),
  chatType: z.string(),
  text: z.string(),
  silent: z.boolean(),
  disableLinkPreview: z.boolean(),
  attempts: z.number(),
});
const result = z.discriminatedUnion('outcome', [
  z.object({ outcome: z.literal('sent'), messageIds: z.array(z.number()) }),
  z.object({
    outcome: z.literal('retry'),
    error: z.string(),
    retryAfterMs: z.number().int().min(0).optional(),
  }),
  z.object({ outcome: z.literal('migrated'), newChatId: z.number() }),
  z.object({ outcome: z.literal('chat_gone'), reason: z.string() }),
  z.object({ outcome: z.literal('failed'), error: z.string() }),
  z.object({ outcome: z.literal('unknown'), error: z.string() }),
]);
export type DeliveryResult = z.infer<typeof result>;
export type ClaimedDelivery = z.infer<typeof claimed>;

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
    const waker = new NotifyWaker(deps.config.databaseUrl, deliveriesChannel);
    app.addHook('onClose', () => waker.close());

    async function claim(botId: string, limit: number): Promise<ClaimedDelivery[]> {
      const rows = await db.execute(sql`
      with picked as (
        select d.id from deliveries d
        where d.bot_id = ${botId}
          and ((d.status = 'queued' and d.next_attempt_at <= now()) or (d.status = 'sending' and d.lease_expires_at < now()))
        order by d.seq
        limit ${limit}
        for update skip locked
      )
      update deliveries d set status = 'sending', attempts = d.attempts + 1,
        lease_expires_at = now() + (${deliveryPolicy.leaseMs} * interval '1 millisecond'), updated_at = now()
      from picked, notifications n, chats c
      where d.id = picked.id and n.id = d.notification_id and c.id = d.chat_id
      returning d.id, d.seq, c.telegram_chat_id, c.type, n.text, n.options, d.attempts`);
      return (rows.rows as Array<Record<string, unknown>>)
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
          };
        })
        .sort((a, b) => a.seq - b.seq);
    }

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
      handler: async (request) => {
        const { botId } = runnerOf(request);
        const deadline = Date.now() + request.body.waitMs;
        const signal = { aborted: false };
        request.raw.on('close', () => (signal.aborted = true));
        for (;;) {
          const got = await claim(botId, request.body.limit);
          const left = deadline - Date.now();
          if (got.length || left <= 0 || signal.aborted) return { deliveries: got };
          // Woken by NOTIFY; the cap also lets expired leases and due retries become visible.
          await waker.wait(botId, Math.min(left, 1_000), signal);
        }
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
        return db.transaction(async (tx) => {
          const [d] = await tx
            .select()
            .from(deliveries)
            .where(and(eq(deliveries.id, request.params.id), eq(deliveries.botId, botId)))
            .for('update');
          if (!d) throw notFound('Delivery');
          const now = new Date();
          const set = (values: Partial<typeof deliveries.$inferInsert>) =>
            tx
              .update(deliveries)
              .set({ ...values, leaseExpiresAt: null, updatedAt: now })
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
          switch (r.outcome) {
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
              await set({
                status: 'queued',
                lastError: `unknown: ${r.error}`,
                nextAttemptAt: new Date(now.getTime() + backoffMs(d.attempts)),
              });
              return { status: 'queued' };
            }
            case 'migrated':
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
              await set({ status: 'failed', lastError: r.reason });
              return { status: 'failed' };
            }
            case 'failed':
              await set({ status: 'failed', lastError: r.error });
              return { status: 'failed' };
          }
        });
      },
    });
  };
