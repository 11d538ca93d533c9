import { and, eq, gt, ne, sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/client.js';
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
    const [row] = await tx
      .insert(events)
      .values({
        orgId,
        source: input.source,
        mailboxId: input.mailboxId ?? null,
        webhookId: input.webhookId ?? null,
        uidValidity: input.uidValidity ?? null,
        uid: input.uid ?? null,
        messageId: input.messageId ?? null,
        subject: input.subject ?? null,
        sender: input.from ?? null,
        payload: input.payload ?? {
          to: input.to,
          text: input.text,
          headers: input.headers,
          body: input.body,
        },
        error: input.error ?? null,
        raw: input.raw ?? null,
      })
      .onConflictDoNothing()
      .returning({ id: events.id });
    if (!row) return null;
    // The same mail again under another UID within two weeks (copied back, re-delivered,
    // moved between folders): recorded, but it matches no rule a second time.
    if (input.source === 'mail' && input.messageId && input.mailboxId) {
      const [first] = await tx
        .select({ id: events.id })
        .from(events)
        .where(
          and(
            eq(events.orgId, orgId),
            eq(events.mailboxId, input.mailboxId),
            eq(events.messageId, input.messageId),
            ne(events.id, row.id),
            // Re-deliveries come soon after; the window keeps this on the (org, created_at) index.
            gt(events.createdAt, sql`now() - interval '14 days'`),
          ),
        )
        .limit(1);
      if (first) {
        await tx
          .update(events)
          .set({
            payload: sql`${events.payload} || ${JSON.stringify({ duplicateOf: first.id })}::jsonb`,
          })
          .where(eq(events.id, row.id));
        await inTx?.(tx);
        return { eventId: row.id, matchedRuleIds: [], duplicateOf: first.id };
      }
    }
    const orgRules = await tx
      .select()
      .from(rules)
      .where(and(eq(rules.orgId, orgId), eq(rules.enabled, true)));
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
    for (const rule of matched) {
      const text = renderTemplate(rule.template, input, { mailbox: input.mailboxName });
      const enqueue = deps.enqueue ?? enqueueNotification;
      try {
        // A savepoint per rule: one rule that cannot send (no bot for a chat) is logged, the rest go.
        await tx.transaction((sp) =>
          enqueue(sp, orgId, {
            source: input.source,
            eventId: row.id,
            ruleId: rule.id,
            text,
            format: 'html',
            targets: rule.targets,
            ...(rule.includeAttachments && input.attachments?.length
              ? { attachments: input.attachments }
              : {}),
          }),
        );
      } catch (error) {
        await logRepository.write(tx, orgId, {
          level: 'error',
          source: 'rules',
          message: `Rule "${rule.name}" could not enqueue: ${(error as Error).message}`,
          context: { ruleId: rule.id, eventId: row.id },
        });
      }
    }
    if (matched.length)
      await tx
        .update(events)
        .set({ matchedRuleIds: matched.map((r) => r.id) })
        .where(and(eq(events.orgId, orgId), eq(events.id, row.id)));
    await inTx?.(tx);
    return { eventId: row.id, matchedRuleIds: matched.map((r) => r.id) };
  });
}
