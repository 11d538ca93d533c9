import { and, eq } from 'drizzle-orm';
import type { Database, Executor } from '../db/client.js';
import { mailboxes } from '../db/schema.js';
import type { SecretBox } from '../crypto/secrets.js';
import { assertPublicMailHost } from '../mail/host-guard.js';
import { openImapSession, type FetchedMessage, type ImapSession } from '../mail/imap.js';
import type { MailLogger } from '../mail/logger.js';
import {
  ingestEvent,
  ingestMailAlone,
  readMailRules,
  type IngestInput,
  type MailRules,
} from '../modules/events/service.js';
import { logRepository } from '../modules/logs/repository.js';
import { mailCredentials, type TokenRefreshDeps } from '../modules/mailboxes/credentials.js';
import { LeaseLostError, type Mailbox } from './leases.js';
import { logUnparseable, MAX_MESSAGE_BYTES, mailEventInput } from './mail-event.js';

/** The hops of one message through the worker (performance.now() milliseconds). */
export type IngestTiming = {
  mailboxId: string;
  uid: number | string;
  /** The catch-up (NOOP + UID FETCH) started. */
  fetchStartedAt: number;
  fetchedAt: number;
  parsedAt: number;
  committedAt: number;
};

export type SyncDeps = TokenRefreshDeps & {
  db: Database;
  secrets: SecretBox;
  allowPrivateHosts: boolean;
  /** When set, every commit checks the mailbox is still leased to this replica (fencing). */
  leaseOwner?: string;
  log?: MailLogger;
  /** Called after each message's commit (benchmarks, metrics). */
  onIngested?: (timing: IngestTiming) => void;
  /** Read at most this much of one message (default MAX_MESSAGE_BYTES). */
  maxMessageBytes?: number;
};

/** Opens an IMAP session for a stored mailbox, behind the SSRF guard. */
export async function openMailboxSession(
  deps: SyncDeps,
  mb: Mailbox,
  options: { forceRefresh?: boolean } = {},
): Promise<ImapSession> {
  const checked = await assertPublicMailHost(mb.host, { allowPrivate: deps.allowPrivateHosts });
  return openImapSession(
    {
      host: checked.address,
      servername: checked.servername,
      port: mb.port,
      security: mb.security,
      username: mb.username,
      ...(await mailCredentials(deps, mb, options)),
      folder: mb.folder,
    },
    deps.log,
  );
}

/** Mails parsed ahead per batch; a batch shares one read of the rules. */
const COMMIT_BATCH = 20;
/** Batches fetched and parsed ahead of the one being written (memory: at most 3 × 20 mails). */
const MAX_BATCHES_IN_FLIGHT = 3;

type Pending = {
  message: FetchedMessage;
  input: IngestInput;
  fetchStartedAt: number;
  fetchedAt: number;
  parsedAt: number;
};

/** PostgreSQL refused the values (data exception, program limit): not worth a retry. */
function isDataError(err: unknown): boolean {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (typeof e.code === 'string' && /^(22|54)/.test(e.code)) return true;
  }
  return false;
}

/**
 * One message's event, rules and notifications, in a savepoint of the batch's transaction.
 * A message PostgreSQL cannot store is recorded with the error instead, so it never blocks
 * the mailbox. Returns false when the message was stored before.
 */
async function ingestOne(tx: Executor, mb: Mailbox, p: Pending): Promise<boolean> {
  const db = tx as unknown as Database; // ingestEvent's transaction becomes a savepoint
  const where = `UID ${p.message.uid}`;
  try {
    const result = await ingestEvent({ db }, mb.orgId, p.input, (sp) =>
      logUnparseable(sp, mb, p.input, where),
    );
    return result !== null;
  } catch (err) {
    if (!isDataError(err)) throw err;
    const fallback: IngestInput = {
      source: 'mail',
      mailboxId: mb.id,
      mailboxName: mb.name,
      uidValidity: p.input.uidValidity ?? null,
      uid: p.message.uid,
      error: `cannot store: ${(err as Error).message.slice(0, 500)}`,
    };
    const result = await ingestEvent({ db }, mb.orgId, fallback, (sp) =>
      logUnparseable(sp, mb, fallback, where),
    );
    return result !== null;
  }
}

/**
 * Moves the cursor inside the caller's transaction. With a lease owner the UPDATE is the
 * fence too: it matches only while the lease is this replica's (and row-locks the mailbox to
 * the commit), else LeaseLostError rolls the transaction back.
 */
async function advanceCursor(
  deps: SyncDeps,
  tx: Executor,
  mb: Mailbox,
  set: Partial<Pick<Mailbox, 'uidValidity' | 'lastUid' | 'lastMessageAt' | 'status' | 'lastError'>>,
) {
  const updated = await tx
    .update(mailboxes)
    .set(set)
    .where(
      and(
        eq(mailboxes.orgId, mb.orgId),
        eq(mailboxes.id, mb.id),
        deps.leaseOwner ? eq(mailboxes.leaseOwner, deps.leaseOwner) : undefined,
      ),
    )
    .returning({ id: mailboxes.id });
  if (deps.leaseOwner && !updated.length)
    throw new LeaseLostError(`mailbox ${mb.id} is no longer leased to ${deps.leaseOwner}`);
}

/**
 * The latency path: one new mail, its event, rules, notification and cursor in one statement
 * (ingestMailAlone), or — when the mail needs more (a parse error or a broken rule to log, a
 * rule that cannot enqueue, files) — in the event's own transaction. Null when it needs the
 * batch path (PostgreSQL refused the values: the batch path records it with the error).
 */
async function ingestAlone(
  deps: SyncDeps,
  mb: Mailbox,
  p: Pending,
  rules?: Promise<MailRules | undefined>,
): Promise<boolean | null> {
  try {
    const fast = await ingestMailAlone(
      deps.db,
      mb.orgId,
      p.input,
      { mailboxId: mb.id, uid: p.message.uid, leaseOwner: deps.leaseOwner ?? null },
      rules,
    );
    if (fast.outcome === 'lease_lost')
      throw new LeaseLostError(`mailbox ${mb.id} is no longer leased to ${deps.leaseOwner}`);
    if (fast.outcome !== 'slow') return fast.outcome === 'stored';
    const result = await ingestEvent({ db: deps.db }, mb.orgId, p.input, async (tx) => {
      await logUnparseable(tx, mb, p.input, `UID ${p.message.uid}`);
      await advanceCursor(deps, tx, mb, {
        lastUid: p.message.uid,
        lastMessageAt: new Date(),
        status: 'ok',
        lastError: null,
      });
    });
    // stored before (a crash after the commit, or another replica): only the cursor moves
    if (!result)
      await deps.db.transaction((tx) => advanceCursor(deps, tx, mb, { lastUid: p.message.uid }));
    return result !== null;
  } catch (err) {
    if (isDataError(err)) return null;
    throw err;
  }
}

/**
 * Ingests everything above the mailbox's cursor, each message in its own transaction with
 * the cursor advance. A new UIDVALIDITY (or none yet) sets a baseline at the current UIDNEXT
 * without ingesting old mail. Marks mail \Seen only when the mailbox asks. Returns how many
 * events were written.
 */
export async function catchUpImap(
  deps: SyncDeps,
  mb: Mailbox,
  session: ImapSession,
  signal?: AbortSignal,
): Promise<number> {
  const { uidValidity, uidNext } = session.mailbox;
  if (mb.uidValidity !== uidValidity) {
    await deps.db.transaction(async (tx) => {
      if (mb.uidValidity !== null)
        await logRepository.write(tx, mb.orgId, {
          level: 'warn',
          source: 'mail',
          message: `UIDVALIDITY of "${mb.name}" changed (${mb.uidValidity} → ${uidValidity}): new baseline, old mail not re-sent`,
          context: { mailboxId: mb.id },
        });
      await advanceCursor(deps, tx, mb, { uidValidity, lastUid: uidNext - 1 });
    });
    mb.uidValidity = uidValidity;
    mb.lastUid = uidNext - 1;
  }
  let written = 0;
  let batch: Pending[] = [];
  // The rules a lone new mail is matched against, read while it is fetched (one round trip
  // off its path) — for the first commit only, so they are never older than the fetch; a
  // failed read is retried by ingestMailAlone itself.
  let rulesRead: Promise<MailRules | undefined> | undefined = readMailRules(
    deps.db,
    mb.orgId,
  ).catch(() => undefined);
  let fetchStartedAt = performance.now();

  /*
   * Mail is written one after another, each with its cursor in one statement, while the
   * fetch and parse of the next batches go on (up to MAX_BATCHES_IN_FLIGHT ahead): the cursor
   * never covers a message whose event is not committed, and a failed batch fails all after it.
   */
  let previous: Promise<void> = Promise.resolve();
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;

  const commit = (work: Pending[]) => {
    const prior = previous;
    const early = rulesRead;
    rulesRead = undefined;
    const done = (async () => {
      const stored: number[] = [];
      // after the batches before it: each mail's statement moves the cursor to its own UID
      await prior;
      // one read of the rules for the whole batch (the first one's started with the fetch)
      const rules = early ?? readMailRules(deps.db, mb.orgId).catch(() => undefined);
      for (const p of work) {
        const uid = p.message.uid;
        let alone = await ingestAlone(deps, mb, p, rules);
        if (alone === null)
          // PostgreSQL refused its values: recorded with the error (ingestOne), cursor with it
          await deps.db.transaction(async (tx) => {
            alone = await ingestOne(tx, mb, p);
            await advanceCursor(deps, tx, mb, {
              lastUid: uid,
              ...(alone ? { lastMessageAt: new Date(), status: 'ok', lastError: null } : {}),
            });
          });
        if (alone) stored.push(uid);
        mb.lastUid = uid;
        written += alone ? 1 : 0;
        deps.onIngested?.({
          mailboxId: mb.id,
          uid,
          fetchStartedAt: p.fetchStartedAt,
          fetchedAt: p.fetchedAt,
          parsedAt: p.parsedAt,
          committedAt: performance.now(),
        });
      }
      if (mb.markSeen)
        for (const uid of stored)
          await session.markSeen(uid).catch((err: unknown) => {
            deps.log?.warn({ err, mailboxId: mb.id }, 'could not mark the message \\Seen');
          });
    })();
    previous = done;
    const tracked = done.catch((err: unknown) => {
      failure ??= err;
    });
    inFlight.add(tracked);
    void tracked.finally(() => inFlight.delete(tracked));
  };

  const maxBytes = deps.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  for await (const message of session.fetchSince(mb.lastUid ?? 0, { maxBytes })) {
    if (signal?.aborted || failure) break; // the rest is fetched again next time
    const fetchedAt = performance.now();
    const input = await mailEventInput(
      mb,
      message.raw,
      { uidValidity, uid: message.uid },
      message.truncated ? { size: message.size } : undefined,
    );
    batch.push({ message, input, fetchStartedAt, fetchedAt, parsedAt: performance.now() });
    // one mail commits at once; a backlog commits in batches (one transaction, one WAL flush)
    if (message.remaining === 0 || batch.length >= COMMIT_BATCH) {
      commit(batch);
      batch = [];
      while (inFlight.size >= MAX_BATCHES_IN_FLIGHT) await Promise.race(inFlight);
    }
    fetchStartedAt = performance.now();
  }
  if (batch.length && !failure) commit(batch);
  await Promise.all(inFlight);
  if (failure) throw failure;
  return written;
}
