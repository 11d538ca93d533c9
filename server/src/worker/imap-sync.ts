import { and, eq } from 'drizzle-orm';
import type { Database, Executor } from '../db/client.js';
import { mailboxes } from '../db/schema.js';
import type { SecretBox } from '../crypto/secrets.js';
import { assertPublicMailHost } from '../mail/host-guard.js';
import { openImapSession, type ImapSession } from '../mail/imap.js';
import type { MailLogger } from '../mail/logger.js';
import { ingestEvent } from '../modules/events/service.js';
import { logRepository } from '../modules/logs/repository.js';
import { mailCredentials, type TokenRefreshDeps } from '../modules/mailboxes/credentials.js';
import { leaseRepository, type Mailbox } from './leases.js';
import { logUnparseable, mailEventInput } from './mail-event.js';

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

/** Moves the cursor, inside the caller's transaction, fenced by the lease when there is one. */
async function advanceCursor(
  deps: SyncDeps,
  tx: Executor,
  mb: Mailbox,
  set: Partial<Pick<Mailbox, 'uidValidity' | 'lastUid' | 'lastMessageAt' | 'status' | 'lastError'>>,
) {
  if (deps.leaseOwner) await leaseRepository.assertHeld(tx, mb.orgId, mb.id, deps.leaseOwner);
  await tx
    .update(mailboxes)
    .set(set)
    .where(and(eq(mailboxes.orgId, mb.orgId), eq(mailboxes.id, mb.id)));
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
  let fetchStartedAt = performance.now();
  for await (const message of session.fetchSince(mb.lastUid ?? 0)) {
    if (signal?.aborted) break; // stopping: the rest is fetched again by whoever watches next
    const fetchedAt = performance.now();
    const input = await mailEventInput(mb, message.raw, { uidValidity, uid: message.uid });
    const parsedAt = performance.now();
    const result = await ingestEvent({ db: deps.db }, mb.orgId, input, async (tx) => {
      await logUnparseable(tx, mb, input, `UID ${message.uid}`);
      await advanceCursor(deps, tx, mb, {
        lastUid: message.uid,
        lastMessageAt: new Date(),
        status: 'ok',
        lastError: null,
      });
    });
    // already stored (a crash after the commit, or another replica): only the cursor moves
    if (!result)
      await deps.db.transaction((tx) => advanceCursor(deps, tx, mb, { lastUid: message.uid }));
    else written++;
    mb.lastUid = message.uid;
    deps.onIngested?.({
      mailboxId: mb.id,
      uid: message.uid,
      fetchStartedAt,
      fetchedAt,
      parsedAt,
      committedAt: performance.now(),
    });
    fetchStartedAt = performance.now();
    if (mb.markSeen && result) {
      await session.markSeen(message.uid).catch((err: unknown) => {
        deps.log?.warn({ err, mailboxId: mb.id }, 'could not mark the message \\Seen');
      });
    }
  }
  return written;
}
