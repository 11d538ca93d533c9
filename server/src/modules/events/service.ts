import { eq, sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/client.js';
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
import { enqueueNotification } from '../notifications/service.js';

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
    const payload = input.payload ?? {
      to: input.to,
      text: input.text,
      headers: input.headers,
      body: input.body,
    };
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
