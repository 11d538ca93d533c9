import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { attachments, botChats, bots, chats, deliveries, notifications } from '../../db/schema.js';
import { AppError } from '../../errors.js';
import { rowFromJson } from '../../db/json-rows.js';
import { deliveriesTotal } from '../../metrics.js';
import { telegramPlainText } from '../../telegram/html.js';
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
  /** The text already rendered (renderChecked), when the caller did it before batching. */
  rendered?: string;
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

type Targets = EnqueueInput['targets'];

/**
 * Picks the bot for each target of each request: the named one (must be the org's), else an
 * enabled bot linked to the chat (a running one first). Three queries for any number of
 * requests (the batcher resolves a whole batch at once); a request that names an unknown chat
 * or bot gets its AppError in its own slot, and its batch-mates are unaffected.
 */
export async function resolveBotsMany(
  tx: Executor,
  requests: Array<{ orgId: string; targets: Targets }>,
): Promise<Array<string[] | AppError>> {
  const chatIds = [...new Set(requests.flatMap((r) => r.targets.map((t) => t.chatId)))];
  const named = [...new Set(requests.flatMap((r) => r.targets.flatMap((t) => t.botId ?? [])))];
  // One after another: a transaction is one connection (pg queues, and deprecates, overlap).
  // The chats and their links to enabled bots in one query (a chat without any: one row, no bot).
  const chatRows = chatIds.length
    ? await tx
        .select({
          id: chats.id,
          orgId: chats.orgId,
          linkOrgId: botChats.orgId,
          botId: bots.id,
          status: bots.status,
          linkStatus: botChats.status,
        })
        .from(chats)
        .leftJoin(botChats, eq(botChats.chatId, chats.id))
        .leftJoin(bots, and(eq(bots.id, botChats.botId), eq(bots.enabled, true)))
        .where(inArray(chats.id, chatIds))
    : [];
  const namedBots = named.length
    ? await tx.select({ id: bots.id, orgId: bots.orgId }).from(bots).where(inArray(bots.id, named))
    : [];
  return pickBots(requests, { chatRows, namedBots });
}

/** What picking bots needs to know: the chats with their links to enabled bots, named bots. */
export type BotLinks = {
  chatRows: Array<{
    id: string;
    orgId: string;
    linkOrgId: string | null;
    botId: string | null;
    status: string | null;
    linkStatus: string | null;
  }>;
  namedBots: Array<{ id: string; orgId: string }>;
};

/**
 * The SQL text of BotLinks for the targets of an org's enabled rules (`rules`: a CTE or table of
 * them), as two JSON arrays — for a caller that reads them along with something else.
 */
export const ruleTargetLinksText = (rules: string) =>
  `coalesce((select json_agg(json_build_object('id', c.id, 'orgId', c.org_id,
        'linkOrgId', bc.org_id, 'botId', b.id, 'status', b.status, 'linkStatus', bc.status))
      from chats c left join bot_chats bc on bc.chat_id = c.id
        left join bots b on b.id = bc.bot_id and b.enabled
      where c.id::text in (select t->>'chatId' from ${rules} r, jsonb_array_elements(r.targets) t)),
    '[]') as chat_rows,
    coalesce((select json_agg(json_build_object('id', b.id, 'orgId', b.org_id)) from bots b
      where b.id::text in (select t->>'botId' from ${rules} r, jsonb_array_elements(r.targets) t)),
    '[]') as named_bots`;

/** Picks each request's bots from what resolveBotsMany (or ruleTargetLinksSql) loaded. */
export function pickBots(
  requests: Array<{ orgId: string; targets: Targets }>,
  { chatRows, namedBots }: BotLinks,
): Array<string[] | AppError> {
  const found = chatRows;
  const links = chatRows.flatMap((r) =>
    r.botId && r.linkOrgId && r.linkStatus
      ? [
          {
            orgId: r.linkOrgId,
            chatId: r.id,
            botId: r.botId,
            status: r.status!,
            linkStatus: r.linkStatus,
          },
        ]
      : [],
  );
  // Every look-up is keyed by org as well: another org's chat or bot is as unknown as none.
  const chatOrg = new Map(found.map((c) => [c.id, c.orgId]));
  const botOrg = new Map(namedBots.map((b) => [b.id, b.orgId]));
  return requests.map(({ orgId, targets }) => {
    const missing = targets.findIndex((t) => chatOrg.get(t.chatId) !== orgId);
    if (missing >= 0)
      return new AppError('validation', 'Unknown chat', {
        errors: [{ path: `chatIds.${missing}`, message: 'No such chat in this organization' }],
      });
    const picked: string[] = [];
    for (const [i, t] of targets.entries()) {
      if (t.botId) {
        if (botOrg.get(t.botId) !== orgId)
          return new AppError('validation', 'Unknown bot', {
            errors: [{ path: `botId`, message: 'No such bot in this organization' }],
          });
        picked.push(t.botId);
        continue;
      }
      const candidates = links.filter(
        (l) => l.orgId === orgId && l.chatId === t.chatId && l.linkStatus === 'active',
      );
      const best = candidates.find((l) => l.status === 'running') ?? candidates[0];
      if (!best)
        return new AppError('validation', 'No bot can send to this chat', {
          errors: [{ path: `chatIds.${i}`, message: 'No active bot linked to this chat' }],
        });
      picked.push(best.botId);
    }
    return picked;
  });
}

async function resolveBots(tx: Executor, orgId: string, targets: Targets) {
  const [picked] = await resolveBotsMany(tx, [{ orgId, targets }]);
  if (picked instanceof AppError) throw picked;
  return picked!;
}

/** The stored text of a notification; an AppError when nothing visible is left to send. */
export function renderChecked(text: string, format: NotificationFormat): string {
  const rendered = renderForTelegram(text, format);
  // what Telegram shows once the tags are gone: tags around nothing are "message text is empty"
  if (!rendered || !telegramPlainText(rendered).trim())
    throw new AppError('validation', 'The text renders to an empty message', {
      errors: [{ path: 'text', message: 'Nothing visible is left after rendering' }],
    });
  return rendered;
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
  const rendered = input.rendered ?? renderChecked(input.text, input.format);
  if (input.attachments?.length) return enqueueWithFiles(tx, orgId, input, botIds, rendered);
  // One round trip: the notification, its deliveries (seq in target order) and the NOTIFY per
  // bot (delivered at commit), unless another request holds the idempotency key.
  const {
    rows: [result],
  } = await tx.execute<{
    notification: Record<string, unknown> | null;
    deliveries: Record<string, unknown>[] | null;
  }>(sql`with n as (
      insert into notifications (org_id, event_id, rule_id, source, text, format, options,
        idempotency_key)
      values (${orgId}, ${input.eventId ?? null}, ${input.ruleId ?? null}, ${input.source},
        ${rendered}, ${input.format}, ${JSON.stringify(input.options ?? {})}::jsonb,
        ${input.idempotencyKey ?? null})
      on conflict (org_id, idempotency_key) do nothing
      returning *
    ), d as (
      insert into deliveries (org_id, notification_id, chat_id, bot_id)
      select ${orgId}, n.id, t.chat_id, t.bot_id
        from n, unnest(${pgUuidArray(input.targets.map((t) => t.chatId))}::uuid[],
                       ${pgUuidArray(botIds)}::uuid[]) with ordinality as t(chat_id, bot_id, i)
       order by t.i
      returning *
    ), woken as (
      select pg_notify(${deliveriesChannel}, b::text)
        from unnest(${pgUuidArray([...new Set(botIds)])}::uuid[]) as b
       where exists (select 1 from n)
    )
    select (select row_to_json(n) from n) as notification,
      (select json_agg(d order by d.seq) from d) as deliveries,
      (select count(*) from woken) as woken`);
  if (!result?.notification) {
    // A concurrent request with the same key committed first.
    const prior = await findByKey(tx, orgId, input.idempotencyKey!);
    if (!prior)
      throw new AppError('conflict', 'Idempotency key in use by a request still in progress');
    return { ...prior, created: false };
  }
  const rows = (result.deliveries ?? []).map((d) => rowFromJson(deliveries, d));
  deliveriesTotal.inc({ status: 'queued' }, rows.length);
  return {
    notification: rowFromJson(notifications, result.notification),
    deliveries: rows,
    created: true,
  };
}

/** A PostgreSQL array literal of uuids (validated: nothing else can be in it). */
function pgUuidArray(ids: string[]): string {
  for (const id of ids)
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
      throw new AppError('validation', 'Not a uuid', {
        errors: [{ path: 'targets', message: id }],
      });
  return `{${ids.join(',')}}`;
}

/** enqueueNotification with files: the notification, its attachments, deliveries, NOTIFY. */
async function enqueueWithFiles(
  tx: Executor,
  orgId: string,
  input: EnqueueInput,
  botIds: string[],
  rendered: string,
): Promise<{ notification: Notification; deliveries: Delivery[]; created: boolean }> {
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

export async function findByKey(tx: Executor, orgId: string, key: string) {
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
