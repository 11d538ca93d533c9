import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { attachments, botChats, bots, chats, deliveries, notifications } from '../../db/schema.js';
import { AppError } from '../../errors.js';
import { deliveriesTotal } from '../../metrics.js';
import { renderTelegramHtml, type MessageFormat } from '../../telegram/render.js';

export type NotificationFormat = MessageFormat;
export type EnqueueInput = {
  source: 'mail' | 'webhook' | 'api';
  eventId?: string | null;
  ruleId?: string | null;
  text: string;
  format: NotificationFormat;
  targets: Array<{ chatId: string; botId?: string }>;
  options?: { silent?: boolean; disableLinkPreview?: boolean };
  idempotencyKey?: string;
  /** In order (the first carries the caption). `size` when `content` was not kept (too big). */
  attachments?: Array<{ filename: string; contentType: string; content: Buffer; size?: number }>;
};
export type Notification = typeof notifications.$inferSelect;
export type Delivery = typeof deliveries.$inferSelect;

/** The channel runners' long polls are woken on; the payload is the bot id. */
export const deliveriesChannel = 'np_deliveries';

/** Renders to Telegram's HTML subset (stored so that runners send it as it is). */
export function renderForTelegram(text: string, format: NotificationFormat): string {
  return renderTelegramHtml({ text, format });
}

/** Picks the bot for each target: the named one (must be the org's), else an enabled bot linked to the chat. */
async function resolveBots(tx: Executor, orgId: string, targets: EnqueueInput['targets']) {
  const chatIds = [...new Set(targets.map((t) => t.chatId))];
  const found = chatIds.length
    ? await tx
        .select({ id: chats.id })
        .from(chats)
        .where(and(eq(chats.orgId, orgId), inArray(chats.id, chatIds)))
    : [];
  const known = new Set(found.map((c) => c.id));
  const missing = targets.findIndex((t) => !known.has(t.chatId));
  if (missing >= 0)
    throw new AppError('validation', 'Unknown chat', {
      errors: [{ path: `chatIds.${missing}`, message: 'No such chat in this organization' }],
    });
  const links = chatIds.length
    ? await tx
        .select({
          chatId: botChats.chatId,
          botId: botChats.botId,
          status: bots.status,
          linkStatus: botChats.status,
        })
        .from(botChats)
        .innerJoin(bots, eq(bots.id, botChats.botId))
        .where(
          and(eq(botChats.orgId, orgId), inArray(botChats.chatId, chatIds), eq(bots.enabled, true)),
        )
    : [];
  const named = [...new Set(targets.flatMap((t) => (t.botId ? [t.botId] : [])))];
  const orgBots = named.length
    ? new Set(
        (
          await tx
            .select({ id: bots.id })
            .from(bots)
            .where(and(eq(bots.orgId, orgId), inArray(bots.id, named)))
        ).map((b) => b.id),
      )
    : new Set<string>();
  return targets.map((t, i) => {
    if (t.botId) {
      if (!orgBots.has(t.botId))
        throw new AppError('validation', 'Unknown bot', {
          errors: [{ path: `botId`, message: 'No such bot in this organization' }],
        });
      return t.botId;
    }
    const candidates = links.filter((l) => l.chatId === t.chatId && l.linkStatus === 'active');
    const best = candidates.find((l) => l.status === 'running') ?? candidates[0];
    if (!best)
      throw new AppError('validation', 'No bot can send to this chat', {
        errors: [{ path: `chatIds.${i}`, message: 'No active bot linked to this chat' }],
      });
    return best.botId;
  });
}

/**
 * Inserts a notification and one delivery per target in the caller's transaction, then
 * NOTIFYs np_deliveries per bot (delivered at commit). With an idempotency key already used,
 * returns the first notification and its deliveries instead.
 */
export async function enqueueNotification(
  tx: Executor,
  orgId: string,
  input: EnqueueInput,
): Promise<{ notification: Notification; deliveries: Delivery[]; created: boolean }> {
  if (input.idempotencyKey) {
    const prior = await findByKey(tx, orgId, input.idempotencyKey);
    if (prior) return { ...prior, created: false };
  }
  const botIds = await resolveBots(tx, orgId, input.targets);
  const rendered = renderForTelegram(input.text, input.format);
  if (!rendered)
    throw new AppError('validation', 'The text renders to an empty message', {
      errors: [{ path: 'text', message: 'Nothing visible is left after rendering' }],
    });
  const inserted = await tx
    .insert(notifications)
    .values({
      orgId,
      eventId: input.eventId ?? null,
      ruleId: input.ruleId ?? null,
      source: input.source,
      text: rendered,
      format: input.format,
      options: input.options ?? {},
      idempotencyKey: input.idempotencyKey ?? null,
    })
    .onConflictDoNothing({ target: [notifications.orgId, notifications.idempotencyKey] })
    .returning();
  const notification = inserted[0];
  if (!notification) {
    // A concurrent request with the same key committed first.
    const prior = await findByKey(tx, orgId, input.idempotencyKey!);
    if (!prior)
      throw new AppError('conflict', 'Idempotency key in use by a request still in progress');
    return { ...prior, created: false };
  }
  if (input.attachments?.length)
    await tx.insert(attachments).values(
      input.attachments.map((a, position) => ({
        orgId,
        notificationId: notification.id,
        filename: a.filename,
        contentType: a.contentType,
        size: Math.max(a.size ?? 0, a.content.length),
        content: a.content,
        position,
      })),
    );
  const rows = input.targets.length
    ? await tx
        .insert(deliveries)
        .values(
          input.targets.map((t, i) => ({
            orgId,
            notificationId: notification.id,
            chatId: t.chatId,
            botId: botIds[i]!,
          })),
        )
        .returning()
    : [];
  rows.sort((a, b) => a.seq - b.seq);
  deliveriesTotal.inc({ status: 'queued' }, rows.length);
  for (const botId of new Set(botIds))
    await tx.execute(sql`select pg_notify(${deliveriesChannel}, ${botId})`);
  return { notification, deliveries: rows, created: true };
}

async function findByKey(tx: Executor, orgId: string, key: string) {
  const [notification] = await tx
    .select()
    .from(notifications)
    .where(and(eq(notifications.orgId, orgId), eq(notifications.idempotencyKey, key)));
  if (!notification) return undefined;
  const rows = await tx
    .select()
    .from(deliveries)
    .where(eq(deliveries.notificationId, notification.id))
    .orderBy(deliveries.seq);
  return { notification, deliveries: rows };
}
