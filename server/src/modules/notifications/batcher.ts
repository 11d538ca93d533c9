import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type pg from 'pg';
import { poolOf, type Database, type Executor } from '../../db/client.js';
import { attachments } from '../../db/schema.js';
import { AppError } from '../../errors.js';
import { deliveriesTotal } from '../../metrics.js';
import {
  deliveriesChannel,
  enqueueNotification,
  pickBots,
  renderChecked,
  resolveBotsMany,
  type BotLinks,
  type EnqueueInput,
} from './service.js';

/** What a request gets back: the notification's id and its deliveries in seq order. */
export type Enqueued = {
  notification: { id: string };
  deliveries: Array<{ id: string; chatId: string; botId: string | null; status: string }>;
  created: boolean;
};

export type NotificationBatcherOptions = {
  /** Most requests in one commit. */
  maxBatch: number;
  /** Commits in flight at once (each holds a pooled connection). */
  maxInFlight: number;
  /** How long the first request of a batch waits for company; 0: only what arrived meanwhile. */
  windowMs: number;
};

type Pending = {
  orgId: string;
  input: EnqueueInput & { rendered: string };
  resolve(r: Enqueued): void;
  reject(e: unknown): void;
};

/**
 * Group commit for accepted notifications: requests that arrive while a commit is in flight
 * (or within `windowMs`) are written together — multi-row INSERTs in ONE transaction, one WAL
 * flush — and each is answered only after that commit, so a 202 is as durable as with a
 * transaction of its own. Each request keeps its own outcome: validation that needs no
 * database happens before it joins (renderChecked), chats and bots are resolved for the
 * whole batch with each request judged on its own, and if the batch's transaction fails,
 * every request is retried alone in its own transaction.
 */
export function createNotificationBatcher(db: Database, options: NotificationBatcherOptions) {
  const queue: Pending[] = [];
  let inFlight = 0;
  let timer: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;
  const idle = new Set<() => void>();

  function schedule() {
    if (timer || !queue.length || inFlight >= options.maxInFlight) return;
    const go = () => {
      timer = undefined;
      flush();
    };
    // A full batch goes at once; otherwise wait a tick (or the window) for company.
    if (queue.length >= options.maxBatch) return go();
    timer = options.windowMs > 0 ? setTimeout(go, options.windowMs) : setImmediate(go);
  }

  function flush() {
    const batch = queue.splice(0, options.maxBatch);
    if (!batch.length) return;
    inFlight++;
    void commitBatch(db, batch).finally(() => {
      inFlight--;
      schedule();
      if (!inFlight && !queue.length) for (const done of idle) done();
    });
    schedule();
  }

  return {
    /** Validates what needs no database, then waits for the batch holding this request to commit. */
    submit(orgId: string, input: EnqueueInput): Promise<Enqueued> {
      const rendered = renderChecked(input.text, input.format);
      return new Promise<Enqueued>((resolve, reject) => {
        queue.push({ orgId, input: { ...input, rendered }, resolve, reject });
        schedule();
      });
    },
    /** Resolves once every submitted request is answered. */
    async drain() {
      if (!inFlight && !queue.length) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          idle.delete(done);
          resolve();
        };
        idle.add(done);
      });
    },
  };
}
export type NotificationBatcher = ReturnType<typeof createNotificationBatcher>;

async function commitBatch(db: Database, batch: Pending[]) {
  let answers: Array<Enqueued | AppError | 'alone'>;
  try {
    answers = batch.some((p) => p.input.attachments?.length)
      ? await db.transaction((tx) => writeBatch(tx, batch))
      : await writeBatchAlone(poolOf(db), batch);
    const queued = answers.reduce(
      (n, a) => n + (typeof a === 'object' && !(a instanceof AppError) ? a.deliveries.length : 0),
      0,
    );
    deliveriesTotal.inc({ status: 'queued' }, queued);
  } catch {
    // Something failed for the batch as a whole: nobody is answered from it; each goes alone.
    answers = batch.map(() => 'alone');
  }
  await Promise.all(
    batch.map(async (p, i) => {
      const a = answers[i]!;
      if (a instanceof AppError) return p.reject(a);
      if (a !== 'alone') return p.resolve(a);
      try {
        p.resolve(await db.transaction((tx) => enqueueNotification(tx, p.orgId, p.input)));
      } catch (err) {
        p.reject(err);
      }
    }),
  );
}

/**
 * Writes a batch in the caller's transaction; per request: its result, its own validation
 * error, or 'alone' (to be written in a transaction of its own after this one: a second use
 * of an idempotency key in the batch, or a key a concurrent commit took).
 */
async function writeBatch(
  tx: Executor,
  batch: Pending[],
): Promise<Array<Enqueued | AppError | 'alone'>> {
  const answers: Answers = batch.map(() => undefined);

  // Same key → the same notification: earlier commits answer for their key; within the batch
  // the first request with a key writes and later ones repeat after this commit.
  const keyed = batch.filter((p) => p.input.idempotencyKey);
  if (keyed.length) {
    const prior = await tx.execute(sql`
      select n.org_id, n.idempotency_key from notifications n
      join unnest(${sql.param(keyed.map((p) => p.orgId))}::uuid[],
                  ${sql.param(keyed.map((p) => p.input.idempotencyKey!))}::text[]) as k(org_id, key)
        on n.org_id = k.org_id and n.idempotency_key = k.key`);
    markTakenKeys(batch, answers, prior.rows as Array<{ org_id: string; idempotency_key: string }>);
  }

  const open = batch.flatMap((p, i) => (answers[i] === undefined ? [i] : []));
  const botIds = await resolveBotsMany(
    tx,
    open.map((i) => ({ orgId: batch[i]!.orgId, targets: batch[i]!.input.targets })),
  );
  const writes: Write[] = [];
  open.forEach((i, k) => {
    const picked = botIds[k]!;
    if (picked instanceof AppError) answers[i] = picked;
    else writes.push({ i, id: randomUUID(), botIds: picked });
  });
  if (!writes.length) return answers.map((a) => a ?? 'alone');

  const col = <T>(f: (p: Pending) => T) => sql.param(writes.map((w) => f(batch[w.i]!)));
  const inserted = await tx.execute(sql`
    insert into notifications (id, org_id, source, text, format, options, idempotency_key)
    select id, org_id, source, text, format, options::jsonb, idempotency_key
    from unnest(${sql.param(writes.map((w) => w.id))}::uuid[], ${col((p) => p.orgId)}::uuid[],
      ${col((p) => p.input.source)}::text[], ${col((p) => p.input.rendered)}::text[],
      ${col((p) => p.input.format)}::text[], ${col((p) => JSON.stringify(p.input.options ?? {}))}::text[],
      ${col((p) => p.input.idempotencyKey ?? null)}::text[])
      as u(id, org_id, source, text, format, options, idempotency_key)
    on conflict (org_id, idempotency_key) do nothing
    returning id`);
  const written = new Set((inserted.rows as Array<{ id: string }>).map((r) => r.id));
  // A concurrent commit took the key since the look-up: that request repeats alone (it finds it).
  const kept = writes.filter((w) => {
    if (!written.has(w.id)) answers[w.i] = 'alone';
    return written.has(w.id);
  });

  const files = kept.flatMap((w) =>
    (batch[w.i]!.input.attachments ?? []).map((a, position) => ({
      orgId: batch[w.i]!.orgId,
      notificationId: w.id,
      filename: a.filename,
      contentType: a.contentType,
      size: Math.max(a.size ?? 0, a.content.length),
      content: a.content,
      position,
    })),
  );
  if (files.length) await tx.insert(attachments).values(files);

  const rows = deliveryRowsOf(batch, kept);
  const rc = <K extends keyof DeliveryRow>(k: K) => sql.param(rows.map((r) => r[k]));
  await tx.execute(sql`
    insert into deliveries (id, org_id, notification_id, chat_id, bot_id)
    select id, org_id, notification_id, chat_id, bot_id from unnest(${rc('id')}::uuid[], ${rc('orgId')}::uuid[], ${rc('notificationId')}::uuid[],
      ${rc('chatId')}::uuid[], ${rc('botId')}::uuid[]) with ordinality as u(id, org_id, notification_id, chat_id, bot_id, n)
    order by n`);
  const bots = [...new Set(rows.map((r) => r.botId))];
  await tx.execute(
    sql`select pg_notify(${deliveriesChannel}, b) from unnest(${sql.param(bots)}::text[]) as b`,
  );

  answerWritten(answers, kept, rows);
  return answers.map((a) => a ?? 'alone');
}

type Answers = Array<Enqueued | AppError | 'alone' | undefined>;
type Write = { i: number; id: string; botIds: string[] };
type DeliveryRow = {
  id: string;
  orgId: string;
  notificationId: string;
  chatId: string;
  botId: string;
};

/**
 * Same key → the same notification: a key an earlier commit took (`prior`) answers from it,
 * and within the batch the first request with a key writes while later ones repeat after
 * this commit — both marked 'alone'.
 */
function markTakenKeys(
  batch: Pending[],
  answers: Answers,
  prior: Array<{ org_id: string; idempotency_key: string }>,
) {
  const keyOf = (p: Pending) =>
    p.input.idempotencyKey ? `${p.orgId}\u0000${p.input.idempotencyKey}` : undefined;
  const taken = new Set(prior.map((r) => `${r.org_id}\u0000${r.idempotency_key}`));
  const first = new Set<string>();
  batch.forEach((p, i) => {
    const key = keyOf(p);
    if (!key) return;
    if (taken.has(key) || first.has(key)) answers[i] = 'alone';
    else first.add(key);
  });
}

/** Each written request's answer: its notification and its deliveries in seq order. */
function answerWritten(answers: Answers, kept: Write[], rows: DeliveryRow[]) {
  const byNotification = new Map<string, Enqueued['deliveries']>();
  for (const r of rows) {
    const list = byNotification.get(r.notificationId) ?? [];
    list.push({ id: r.id, chatId: r.chatId, botId: r.botId, status: 'queued' });
    byNotification.set(r.notificationId, list);
  }
  for (const w of kept)
    answers[w.i] = {
      notification: { id: w.id },
      deliveries: byNotification.get(w.id) ?? [],
      created: true,
    };
}

/** Deliveries in request order, so seq (hence per-chat send order) follows it. */
const deliveryRowsOf = (batch: Pending[], kept: Write[]): DeliveryRow[] =>
  kept.flatMap((w) =>
    batch[w.i]!.input.targets.map((t, k) => ({
      id: randomUUID(),
      orgId: batch[w.i]!.orgId,
      notificationId: w.id,
      chatId: t.chatId,
      botId: w.botIds[k]!,
    })),
  );

// writeBatchAlone's two statements are named: each pooled connection plans them once.
const batchLinksStatement = {
  name: 'np_notifications_links',
  // the chats with their links to enabled bots, the named bots, the idempotency keys taken
  text: `
    select 'chat' as kind, c.id, c.org_id, bc.org_id as link_org_id, b.id as bot_id,
      b.status, bc.status as link_status
    from chats c left join bot_chats bc on bc.chat_id = c.id
      left join bots b on b.id = bc.bot_id and b.enabled
    where c.id = any($1::uuid[])
    union all
    select 'bot', b.id, b.org_id, null, null, null, null from bots b where b.id = any($2::uuid[])
    union all
    select 'key', null, n.org_id, null, null, null, n.idempotency_key from notifications n
      join unnest($3::uuid[], $4::text[]) as k(org_id, key)
        on n.org_id = k.org_id and n.idempotency_key = k.key`,
};
const batchWriteStatement = {
  name: 'np_notifications_write',
  text: `
    with n as (
      insert into notifications (id, org_id, source, text, format, options, idempotency_key)
      select id, org_id, source, text, format, options::jsonb, idempotency_key
      from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
        as u(id, org_id, source, text, format, options, idempotency_key)
      on conflict (org_id, idempotency_key) do nothing
      returning id
    ), d as (
      insert into deliveries (id, org_id, notification_id, chat_id, bot_id)
      select u.id, u.org_id, u.notification_id, u.chat_id, u.bot_id
      from unnest($8::uuid[], $9::uuid[], $10::uuid[], $11::uuid[], $12::uuid[])
        with ordinality as u(id, org_id, notification_id, chat_id, bot_id, i)
      where u.notification_id in (select id from n)
      order by u.i
      returning bot_id
    ), woken as (
      select pg_notify('${deliveriesChannel}', b::text) from (select distinct bot_id as b from d) as bots
    )
    select array(select id from n)::text[] as ids, (select count(*) from woken)::int as woken`,
};

type LinkRow = {
  kind: 'chat' | 'bot' | 'key';
  id: string | null;
  org_id: string;
  link_org_id: string | null;
  bot_id: string | null;
  status: string | null;
  link_status: string | null;
};

/**
 * writeBatch for a batch without files, in two round trips instead of seven: one read (chats,
 * bot links, named bots, taken keys), then ONE statement — notifications, deliveries and the
 * runners' NOTIFY — that commits on its own (a single statement is atomic; no BEGIN/COMMIT).
 */
async function writeBatchAlone(
  pool: pg.Pool,
  batch: Pending[],
): Promise<Array<Enqueued | AppError | 'alone'>> {
  const answers: Answers = batch.map(() => undefined);
  const keyed = batch.filter((p) => p.input.idempotencyKey);
  const requests = batch.map((p) => ({ orgId: p.orgId, targets: p.input.targets }));
  const { rows: found } = await pool.query<LinkRow>({
    ...batchLinksStatement,
    values: [
      [...new Set(requests.flatMap((r) => r.targets.map((t) => t.chatId)))],
      [...new Set(requests.flatMap((r) => r.targets.flatMap((t) => t.botId ?? [])))],
      keyed.map((p) => p.orgId),
      keyed.map((p) => p.input.idempotencyKey!),
    ],
  });
  const links: BotLinks = { chatRows: [], namedBots: [] };
  const prior: Array<{ org_id: string; idempotency_key: string }> = [];
  for (const r of found) {
    if (r.kind === 'chat')
      links.chatRows.push({
        id: r.id!,
        orgId: r.org_id,
        linkOrgId: r.link_org_id,
        botId: r.bot_id,
        status: r.status,
        linkStatus: r.link_status,
      });
    else if (r.kind === 'bot') links.namedBots.push({ id: r.id!, orgId: r.org_id });
    else prior.push({ org_id: r.org_id, idempotency_key: r.link_status! });
  }
  markTakenKeys(batch, answers, prior);

  const open = batch.flatMap((p, i) => (answers[i] === undefined ? [i] : []));
  const picked = pickBots(
    open.map((i) => requests[i]!),
    links,
  );
  const writes: Write[] = [];
  open.forEach((i, k) => {
    const bots = picked[k]!;
    if (bots instanceof AppError) answers[i] = bots;
    else writes.push({ i, id: randomUUID(), botIds: bots });
  });
  if (!writes.length) return answers.map((a) => a ?? 'alone');

  const rows = deliveryRowsOf(batch, writes);
  const col = <T>(f: (p: Pending) => T) => writes.map((w) => f(batch[w.i]!));
  const rc = <K extends keyof DeliveryRow>(k: K) => rows.map((r) => r[k]);
  const { rows: result } = await pool.query<{ ids: string[] }>({
    ...batchWriteStatement,
    values: [
      writes.map((w) => w.id),
      col((p) => p.orgId),
      col((p) => p.input.source),
      col((p) => p.input.rendered),
      col((p) => p.input.format),
      col((p) => JSON.stringify(p.input.options ?? {})),
      col((p) => p.input.idempotencyKey ?? null),
      rc('id'),
      rc('orgId'),
      rc('notificationId'),
      rc('chatId'),
      rc('botId'),
    ],
  });
  const written = new Set(result[0]!.ids);
  // A concurrent commit took the key since the look-up: that request repeats alone (it finds it).
  const kept = writes.filter((w) => {
    if (!written.has(w.id)) answers[w.i] = 'alone';
    return written.has(w.id);
  });
  answerWritten(
    answers,
    kept,
    rows.filter((r) => written.has(r.notificationId)),
  );
  return answers.map((a) => a ?? 'alone');
}
