/**
 * One watcher per leased mailbox: connect, catch up, wait for news (IMAP IDLE or polling;
 * POP3 polling), reconnect with exponential backoff and jitter. The mailbox's status and
 * last error stay current; connection and login failures go to the log once per streak.
 */
import { and, eq, sql } from 'drizzle-orm';
import { mailboxes } from '../db/schema.js';
import { isAuthFailure, MailConnectError } from '../mail/errors.js';
import type { ImapSession } from '../mail/imap.js';
import { logRepository } from '../modules/logs/repository.js';
import { catchUpImap, openMailboxSession, type SyncDeps } from './imap-sync.js';
import { LeaseLostError, type Mailbox } from './leases.js';
import { pollPop3 } from './pop3-sync.js';

export type Backoff = { initialMs: number; maxMs: number };
export type WatcherDeps = SyncDeps & {
  backoff: Backoff;
  /** Longest single IDLE before it is re-issued (RFC 2177: under 29 minutes). */
  idleMaxMs: number;
};
export type Watcher = { readonly mailbox: Mailbox; done: Promise<void>; stop(): Promise<void> };

/** Exponential backoff with "equal jitter": half fixed, half random, capped. */
export function backoffDelay(attempt: number, { initialMs, maxMs }: Backoff): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Status, last error and a log row per error streak (not one per retry). */
function statusKeeper(deps: WatcherDeps, mb: Mailbox) {
  const scope = and(eq(mailboxes.orgId, mb.orgId), eq(mailboxes.id, mb.id));
  let failing: string | undefined;
  return {
    async ok() {
      await deps.db
        .update(mailboxes)
        .set({ status: 'ok', lastError: null, lastCheckedAt: new Date() })
        .where(scope);
      if (failing !== undefined) {
        failing = undefined;
        await logRepository.write(deps.db, mb.orgId, {
          level: 'info',
          source: 'mail',
          message: `Mailbox "${mb.name}" is connected again`,
          context: { mailboxId: mb.id },
        });
      }
    },
    async failed(err: unknown) {
      const code = err instanceof MailConnectError ? err.code : 'internal';
      const message =
        err instanceof MailConnectError ? err.message : `Internal error: ${(err as Error).message}`;
      deps.log?.warn({ mailboxId: mb.id, code, err: message }, 'mailbox watcher error');
      // the log row first: whoever sees the status sees the log entry too
      if (failing !== message) {
        failing = message;
        await logRepository.write(deps.db, mb.orgId, {
          level: code === 'auth' || code === 'blocked_host' ? 'error' : 'warn',
          source: 'mail',
          message: `Mailbox "${mb.name}": ${code === 'auth' ? 'login failed' : 'connection failed'}: ${message}`,
          context: { mailboxId: mb.id, code },
        });
      }
      await deps.db
        .update(mailboxes)
        .set({
          status: 'error',
          lastError: message,
          lastCheckedAt: new Date(),
          // every failure is followed by a reconnect; /metrics sums these (any replica sees them)
          reconnects: sql`${mailboxes.reconnects} + 1`,
        })
        .where(scope);
    },
  };
}

function runLoop(
  deps: WatcherDeps,
  mb: Mailbox,
  session: (
    signal: AbortSignal,
    forceRefresh: boolean,
    status: ReturnType<typeof statusKeeper>,
  ) => Promise<void>,
): Watcher {
  const controller = new AbortController();
  const { signal } = controller;
  const status = statusKeeper(deps, mb);
  const done = (async () => {
    let attempt = 0;
    let forceRefresh = false;
    while (!signal.aborted) {
      try {
        await session(signal, forceRefresh, status);
        forceRefresh = false;
        attempt = 0;
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof LeaseLostError) {
          deps.log?.info({ mailboxId: mb.id }, 'lease lost: watcher stops');
          break;
        }
        // OAuth2: a refused access token is refreshed once before counting as a failure
        if (isAuthFailure(err) && mb.authType === 'oauth2' && !forceRefresh) {
          forceRefresh = true;
          continue;
        }
        forceRefresh = false;
        await status.failed(err).catch(() => {});
        await sleep(backoffDelay(attempt++, deps.backoff), signal);
      }
    }
  })();
  return {
    mailbox: mb,
    done,
    async stop() {
      controller.abort();
      await done;
    },
  };
}

/** IMAP: IDLE when the server has it and the mailbox is in idle mode, NOOP polling otherwise. */
export function startImapWatcher(deps: WatcherDeps, mb: Mailbox): Watcher {
  return runLoop(deps, mb, async (signal, forceRefresh, status) => {
    let session: ImapSession | undefined;
    try {
      session = await openMailboxSession(deps, mb, { forceRefresh });
      await catchUpImap(deps, mb, session, signal);
      await status.ok();
      const idle = mb.mode === 'idle' && session.supportsIdle;
      const pollMs = mb.pollIntervalSeconds * 1000;
      while (!signal.aborted) {
        if (idle) {
          const change = await session.waitForChange({ signal, idleMaxMs: deps.idleMaxMs });
          if (change === 'closed')
            throw new MailConnectError('closed', `The connection to ${mb.host} was closed.`);
        } else {
          await sleep(pollMs, signal);
          if (signal.aborted) break;
        }
        await catchUpImap(deps, mb, session, signal);
      }
    } finally {
      await session?.close().catch(() => {});
    }
  });
}

/** POP3: a poll at the mailbox's interval, new messages by UIDL. */
export function startPop3Watcher(deps: WatcherDeps, mb: Mailbox): Watcher {
  return runLoop(deps, mb, async (signal, forceRefresh, status) => {
    await pollPop3(deps, mb, { forceRefresh, signal });
    await status.ok();
    await sleep(mb.pollIntervalSeconds * 1000, signal);
  });
}

export function startWatcher(deps: WatcherDeps, mb: Mailbox): Watcher {
  return mb.protocol === 'pop3' ? startPop3Watcher(deps, mb) : startImapWatcher(deps, mb);
}
