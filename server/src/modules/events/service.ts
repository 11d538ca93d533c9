import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { poolOf, type Database, type Executor } from '../../db/client.js';
import { rowFromJson } from '../../db/json-rows.js';
import { events, rules } from '../../db/schema.js';
import {
  conditionOps,
  evaluateRules,
  sourceMatches,
  unsafeRegexReason,
  type RuleEvent,
} from '../rules/engine.js';
import { renderTemplate } from '../rules/template.js';
import { logRepository } from '../logs/repository.js';
import {
  deliveriesChannel,
  enqueueNotification,
  pickBots,
  renderChecked,
  ruleTargetLinksText,
  type BotLinks,
} from '../notifications/service.js';
import { AppError } from '../../errors.js';
import { deliveriesTotal } from '../../metrics.js';

/** One notification a matched rule asks for; the notifications module turns it into deliveries. */
export type RuleNotification = {
  source: RuleEvent['source'];
  eventId: string;
  ruleId: string;
  text: string;
  format: 'html';
  targets: { chatId: string; botId?: string }[];
  /** The mail's files, for a rule with includeAttachments. */
  attachments?: EventAttachment[];
};
/** A file that came with an event (a mail attachment); `content` is empty when it was too big to keep. */
export type EventAttachment = {
  filename: string;
  contentType: string;
  size: number;
  content: Buffer;
};
/** Writes a notification inside the ingest transaction (notifications' enqueueNotification). */
export type Enqueue = (tx: Executor, orgId: string, n: RuleNotification) => Promise<unknown>;
// Defaults to notifications' enqueueNotification; replaceable in tests.

export type IngestInput = RuleEvent & {
  uidValidity?: string | null;
  uid?: number | null;
  messageId?: string | null;
  payload?: Record<string, unknown>;
  error?: string | null;
  mailboxName?: string | null;
  attachments?: EventAttachment[];
  /** The raw MIME of a mail, kept for the retention period (RAW_MAIL_RETENTION_DAYS). */
  raw?: Buffer | null;
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
function uuid(id: string): string {
  if (!UUID.test(id)) throw new Error(`not a uuid: ${JSON.stringify(id)}`);
  return id;
}

/** Why a rule cannot work as written (a refused regex, an unknown operator), or null. */
export function ruleProblem(rule: Pick<typeof rules.$inferSelect, 'conditions'>): string | null {
  for (const c of rule.conditions) {
    if (!(conditionOps as readonly string[]).includes(c.op))
      return `condition on ${c.field}: unknown operator "${c.op}"`;
    if (c.op === 'regex') {
      const why = unsafeRegexReason(c.value ?? '');
      if (why) return `condition on ${c.field}: ${why}; it never matches`;
    }
  }
  return null;
}
/** What an event stores as its payload: the webhook's body, or the mail's parts. */
const eventPayload = (input: IngestInput): Record<string, unknown> =>
  input.payload ?? { to: input.to, text: input.text, headers: input.headers, body: input.body };

// A broken rule is logged once an hour per revision, not once per event.
const RULE_PROBLEM_LOG_INTERVAL_MS = 3_600_000;
const ruleProblemLogged = new Map<string, number>();

/**
 * Records an event, matches the org's rules and enqueues their notifications in one
 * transaction. A mail already stored under (mailbox, UIDVALIDITY, UID) is a no-op: null.
 */
export async function ingestEvent(
  deps: { db: Database; enqueue?: Enqueue },
  orgId: string,
  input: IngestInput,
  inTx?: (tx: Executor) => Promise<void>,
) {
  return deps.db.transaction(async (tx) => {
    const payload = eventPayload(input);
    // One round trip: the event's INSERT, the earlier copy of the same mail (the statement's
    // snapshot does not see the new row) and the org's enabled rules.
    const inserted = sql`insert into events (org_id, source, mailbox_id, webhook_id, uid_validity,
        uid, message_id, subject, sender, payload, error, raw)
      values (${orgId}, ${input.source}, ${input.mailboxId ?? null}, ${input.webhookId ?? null},
        ${input.uidValidity ?? null}, ${input.uid ?? null}, ${input.messageId ?? null},
        ${input.subject ?? null}, ${input.from ?? null}, ${JSON.stringify(payload)}::jsonb,
        ${input.error ?? null}, ${input.raw ?? null})
      on conflict do nothing
      returning id`;
    // The same Message-ID in this mailbox within 14 days (events_mailbox_message_id_idx).
    const duplicate =
      input.source === 'mail' && input.messageId && input.mailboxId
        ? sql`(select e.id from events e
            where e.org_id = ${orgId} and e.mailbox_id = ${input.mailboxId}
              and e.message_id = ${input.messageId}
              and e.created_at > now() - interval '14 days'
              and exists (select 1 from ins)
            limit 1)`
        : sql`null::uuid`;
    const {
      rows: [head],
    } = await tx.execute<{
      id: string | null;
      duplicate_of: string | null;
      rules: Record<string, unknown>[];
    }>(sql`with ins as (${inserted})
      select (select id from ins) as id, ${duplicate} as duplicate_of,
        case when exists (select 1 from ins)
          then coalesce((select json_agg(r) from rules r
                          where r.org_id = ${orgId} and r.enabled), '[]')
          else '[]' end as rules`);
    if (!head?.id) return null;
    const row = { id: head.id };
    // The same mail again under another UID within two weeks (copied back, re-delivered,
    // moved between folders): recorded, but it matches no rule a second time.
    if (head.duplicate_of) {
      const first = { id: head.duplicate_of };
      await tx
        .update(events)
        .set({
          payload: sql`${events.payload} || ${JSON.stringify({ duplicateOf: first.id })}::jsonb`,
        })
        .where(eq(events.id, row.id));
      await inTx?.(tx);
      return { eventId: row.id, matchedRuleIds: [], duplicateOf: first.id };
    }
    const orgRules = head.rules.map((r: Record<string, unknown>) => rowFromJson(rules, r));
    const matched = input.error ? [] : evaluateRules(orgRules, input);
    for (const rule of orgRules) {
      // rules stored before the checks, or imported: they stay, and the log says why they are silent
      const problem = sourceMatches(rule, input) ? ruleProblem(rule) : null;
      const key = `${rule.id}:${rule.updatedAt.getTime()}`;
      if (!problem || Date.now() - (ruleProblemLogged.get(key) ?? 0) < RULE_PROBLEM_LOG_INTERVAL_MS)
        continue;
      ruleProblemLogged.set(key, Date.now());
      if (ruleProblemLogged.size > 10_000) ruleProblemLogged.clear();
      await logRepository.write(tx, orgId, {
        level: 'error',
        source: 'rules',
        message: `Rule "${rule.name}" cannot match: ${problem}`,
        context: { ruleId: rule.id, eventId: row.id },
      });
    }
    for (const [i, rule] of matched.entries()) {
      const text = renderTemplate(rule.template, input, { mailbox: input.mailboxName });
      const enqueue = deps.enqueue ?? enqueueNotification;
      // A savepoint per rule: one rule that cannot send (no bot for a chat) is logged, the rest
      // go. Not released (COMMIT, or the caller's enclosing savepoint, releases them): a round
      // trip saved per rule; the first one goes with the matched rules' UPDATE, in one simple
      // query (ids only: uuids from PostgreSQL, checked).
      const savepoint = `np_rule_${i}`;
      await tx.execute(
        sql.raw(
          i === 0
            ? `update events set matched_rule_ids = '${JSON.stringify(matched.map((r) => uuid(r.id)))}'::jsonb where org_id = '${uuid(orgId)}' and id = '${uuid(row.id)}'; savepoint ${savepoint}`
            : `savepoint ${savepoint}`,
        ),
      );
      try {
        await enqueue(tx, orgId, {
          source: input.source,
          eventId: row.id,
          ruleId: rule.id,
          text,
          format: 'html',
          targets: rule.targets,
          ...(rule.includeAttachments && input.attachments?.length
            ? { attachments: input.attachments }
            : {}),
        });
      } catch (error) {
        await tx.execute(sql.raw(`rollback to savepoint ${savepoint}`));
        await logRepository.write(tx, orgId, {
          level: 'error',
          source: 'rules',
          message: `Rule "${rule.name}" could not enqueue: ${(error as Error).message}`,
          context: { ruleId: rule.id, eventId: row.id },
        });
      }
    }
    await inTx?.(tx);
    return { eventId: row.id, matchedRuleIds: matched.map((r) => r.id) };
  });
}

// ingestMailAlone's two statements are named: each pooled connection parses and plans them
// once (planning a statement this size costs about as much as running it).
const mailRulesStatement = {
  name: 'np_mail_rules',
  text: `with r as (select * from rules where org_id = $1 and enabled)
    select coalesce((select json_agg(r) from r), '[]') as rules, ${ruleTargetLinksText('r')}`,
};
const mailIngestStatement = {
  name: 'np_mail_ingest',
  text: `
    with cur as (
      update mailboxes set last_uid = $3, last_message_at = now(), status = 'ok', last_error = null
      where org_id = $1 and id = $2 and ($4::text is null or lease_owner = $4)
      returning id
    ), dup as (
      -- the same Message-ID in this mailbox within 14 days (events_mailbox_message_id_idx)
      select e.id from events e
      where e.mailbox_id = $2 and e.message_id = $8 and e.org_id = $1
        and e.created_at > now() - interval '14 days'
      limit 1
    ), ins as (
      insert into events (id, org_id, source, mailbox_id, uid_validity, uid, message_id, subject,
        sender, payload, raw, matched_rule_ids)
      select $5, $1, 'mail', $2, $6, $7, $8, $9, $10,
        case when dup.id is null then $11::jsonb
          else $11::jsonb || jsonb_build_object('duplicateOf', dup.id) end,
        $12, case when dup.id is null then $13::jsonb else '[]'::jsonb end
      from (select 1) as one left join dup on true
      where exists (select 1 from cur)
      on conflict do nothing
      returning id, payload->>'duplicateOf' as duplicate_of
    ), n as (
      insert into notifications (id, org_id, event_id, rule_id, source, text, format, options)
      select u.id, $1, $5, u.rule_id, 'mail', u.text, 'html', '{}'::jsonb
      from unnest($14::uuid[], $15::uuid[], $16::text[]) as u(id, rule_id, text)
      where exists (select 1 from ins where ins.duplicate_of is null)
      returning id
    ), d as (
      insert into deliveries (org_id, notification_id, chat_id, bot_id)
      select $1, u.notification_id, u.chat_id, u.bot_id
      from unnest($17::uuid[], $18::uuid[], $19::uuid[])
        with ordinality as u(notification_id, chat_id, bot_id, i)
      where exists (select 1 from n)
      order by u.i
      returning bot_id
    ), woken as (
      select pg_notify('${deliveriesChannel}', b::text)
      from (select distinct bot_id as b from d) as bots
    )
    select (select count(*) from cur)::int as moved, (select id from ins) as id,
      (select duplicate_of from ins) as duplicate_of, (select count(*) from woken)::int as woken,
      (select count(*) from d)::int as queued`,
};

export type MailRules = {
  rules: Record<string, unknown>[];
  chat_rows: BotLinks['chatRows'];
  named_bots: BotLinks['namedBots'];
};

/**
 * What ingestMailAlone matches a mail against: the org's enabled rules and the bots linked to
 * their chats. A watcher may start it while the mail is still being fetched — the rules as
 * they were a few milliseconds before the mail's commit, as if it had come that much sooner.
 */
export async function readMailRules(db: Database, orgId: string): Promise<MailRules> {
  const pool = poolOf(db);
  const { rows } = await pool.query<MailRules>({ ...mailRulesStatement, values: [orgId] });
  return rows[0]!;
}

/** Where a mail's cursor goes with its event (ingestMailAlone). */
export type MailCursor = {
  mailboxId: string;
  uid: number;
  /** The fence: the cursor moves only while the mailbox is leased to this owner. */
  leaseOwner?: string | null;
};

/**
 * The latency path of one new mail: the org's enabled rules and the bots linked to their
 * chats in one read, the rules matched here, then ONE statement — the cursor, the event, its
 * notifications, their deliveries and the runners' NOTIFY — committed on its own (a single
 * statement is atomic; no BEGIN/COMMIT round trips): two round trips instead of seven.
 * The rules are read just before the write, as if the mail had come a moment earlier.
 * 'slow' when the mail needs what ingestEvent does (a parse error or a broken rule to log, a
 * rule that cannot enqueue, files to forward): nothing was written, the caller goes that way.
 * 'lease_lost' when the mailbox is no longer leased to the owner: nothing was written.
 */
export async function ingestMailAlone(
  db: Database,
  orgId: string,
  input: IngestInput,
  cursor: MailCursor,
  /** readMailRules started earlier (while the mail was fetched); undefined if it failed. */
  early?: Promise<MailRules | undefined>,
): Promise<
  | { outcome: 'stored'; eventId: string; matchedRuleIds: string[]; duplicateOf?: string }
  | { outcome: 'known' | 'lease_lost' | 'slow' }
> {
  if (input.source !== 'mail' || input.error) return { outcome: 'slow' };
  const pool = poolOf(db);
  const read = (await early) ?? (await readMailRules(db, orgId));
  const orgRules = read.rules.map((r) => rowFromJson(rules, r));
  if (orgRules.some((rule) => sourceMatches(rule, input) && ruleProblem(rule)))
    return { outcome: 'slow' };
  const matched = evaluateRules(orgRules, input);
  if (matched.some((rule) => rule.includeAttachments && input.attachments?.length))
    return { outcome: 'slow' };
  const picked = pickBots(
    matched.map((rule) => ({ orgId, targets: rule.targets })),
    { chatRows: read.chat_rows, namedBots: read.named_bots },
  );
  const notes: Array<{ id: string; ruleId: string; text: string }> = [];
  const rows: Array<{ notificationId: string; chatId: string; botId: string }> = [];
  for (const [i, rule] of matched.entries()) {
    const bots = picked[i]!;
    if (bots instanceof AppError) return { outcome: 'slow' };
    let text: string;
    try {
      text = renderChecked(
        renderTemplate(rule.template, input, { mailbox: input.mailboxName }),
        'html',
      );
    } catch {
      return { outcome: 'slow' };
    }
    const id = randomUUID();
    notes.push({ id, ruleId: rule.id, text });
    rule.targets.forEach((t, k) =>
      rows.push({ notificationId: id, chatId: t.chatId, botId: bots[k]! }),
    );
  }
  const eventId = randomUUID();
  const payload = eventPayload(input);
  const uuids = (ids: string[]) => `{${ids.join(',')}}`;
  const {
    rows: [head],
  } = await pool.query<{
    moved: number;
    id: string | null;
    duplicate_of: string | null;
    queued: number;
  }>({
    ...mailIngestStatement,
    values: [
      orgId,
      cursor.mailboxId,
      cursor.uid,
      cursor.leaseOwner ?? null,
      eventId,
      input.uidValidity ?? null,
      input.uid ?? null,
      input.messageId ?? null,
      input.subject ?? null,
      input.from ?? null,
      JSON.stringify(payload),
      input.raw ?? null,
      JSON.stringify(matched.map((r) => r.id)),
      uuids(notes.map((x) => x.id)),
      uuids(notes.map((x) => x.ruleId)),
      notes.map((x) => x.text),
      uuids(rows.map((x) => x.notificationId)),
      uuids(rows.map((x) => x.chatId)),
      uuids(rows.map((x) => x.botId)),
    ],
  });
  if (!head?.moved) return { outcome: cursor.leaseOwner ? 'lease_lost' : 'known' };
  if (!head.id) return { outcome: 'known' };
  if (head.duplicate_of)
    return {
      outcome: 'stored',
      eventId: head.id,
      matchedRuleIds: [],
      duplicateOf: head.duplicate_of,
    };
  deliveriesTotal.inc({ status: 'queued' }, head.queued);
  return { outcome: 'stored', eventId: head.id, matchedRuleIds: matched.map((r) => r.id) };
}
