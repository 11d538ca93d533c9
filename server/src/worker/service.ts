/**
 * The worker service: one watcher per enabled mailbox, spread over the running replicas by
 * leases in PostgreSQL. A periodic lease loop heartbeats this replica, renews its leases,
 * claims its fair share (ceil(enabled mailboxes / live replicas)) of the free or expired
 * ones, gives back any surplus, and starts, restarts (settings changed) or stops watchers
 * as mailboxes are created, edited, disabled or deleted — no restart needed.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../config.js';
import type { SecretBox } from '../crypto/secrets.js';
import type { Database } from '../db/client.js';
import type { Logger } from '../logger.js';
import type { IngestTiming } from './imap-sync.js';
import { leaseRepository, type Mailbox } from './leases.js';
import { startWatcher, type Backoff, type Watcher, type WatcherDeps } from './watchers.js';

export type WorkerOptions = {
  config: Config;
  db: Database;
  log: Logger;
  secrets: SecretBox;
  /** This replica's lease owner id; default host name + pid + random. */
  ownerId?: string;
  /** Lease length; default WORKER_LEASE_SECONDS. */
  leaseMs?: number;
  /** Lease loop period; default a third of the lease. */
  scanMs?: number;
  /** Reconnect backoff; default 1 s doubling to 5 min, with jitter. */
  backoff?: Backoff;
  /** Longest IDLE before re-issuing it; default 25 min. */
  idleMaxMs?: number;
  onIngested?: (timing: IngestTiming) => void;
};

export type WorkerHandle = {
  readonly ownerId: string;
  /** Ids of the mailboxes this replica watches now. */
  watching(): string[];
  /** Runs one lease/scan round now (tests; a caller that just changed a mailbox). */
  rescan(): Promise<void>;
  /**
   * Stops every watcher. `release` (default true) hands the leases back at once; false
   * leaves them to expire, as a crashed replica would.
   */
  stop(options?: { release?: boolean }): Promise<void>;
};

/** What makes a running watcher stale: any edit (the PATCH route bumps updated_at). */
const revision = (mb: Mailbox) => `${mb.updatedAt.getTime()}:${mb.enabled}`;

/** Starts the worker's lease loop; the first round runs at once. */
export function startWorker(options: WorkerOptions): WorkerHandle {
  const { db, log, config } = options;
  const ownerId =
    options.ownerId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const leaseMs = options.leaseMs ?? config.workerLeaseSeconds * 1000;
  const scanMs = options.scanMs ?? Math.max(100, Math.floor(leaseMs / 3));
  const deps: WatcherDeps = {
    db,
    secrets: options.secrets,
    allowPrivateHosts: config.mailAllowPrivateHosts,
    leaseOwner: ownerId,
    log: log.child({ component: 'watcher' }),
    backoff: options.backoff ?? { initialMs: 1_000, maxMs: 5 * 60_000 },
    idleMaxMs: options.idleMaxMs ?? 25 * 60_000,
    ...(options.onIngested ? { onIngested: options.onIngested } : {}),
  };
  const watchers = new Map<string, { watcher: Watcher; revision: string }>();
  let stopped = false;
  let round: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const launch = (mb: Mailbox) => {
    const watcher = startWatcher(
      { ...deps, log: log.child({ component: 'watcher', mailboxId: mb.id }) },
      mb,
    );
    const entry = { watcher, revision: revision(mb) };
    watchers.set(mb.id, entry);
    // a watcher that ends by itself (lost its lease) is forgotten; the next round decides
    void watcher.done.then(() => {
      if (watchers.get(mb.id) === entry) watchers.delete(mb.id);
    });
    log.info({ mailboxId: mb.id, protocol: mb.protocol }, 'watching mailbox');
  };
  const halt = async (id: string) => {
    const entry = watchers.get(id);
    if (!entry) return;
    watchers.delete(id);
    await entry.watcher.stop();
  };

  async function leaseRound(): Promise<void> {
    const live = await leaseRepository.heartbeat(db, ownerId, leaseMs);
    const mine = new Map((await leaseRepository.renew(db, ownerId, leaseMs)).map((m) => [m.id, m]));
    // lost (taken over, disabled, deleted) or edited: stop; edited ones restart below
    for (const [id, entry] of [...watchers]) {
      const row = mine.get(id);
      if (!row) await halt(id);
      else if (revision(row) !== entry.revision) await halt(id);
    }
    if (stopped) return;
    for (const row of mine.values()) if (!watchers.has(row.id)) launch(row);

    const share = Math.ceil((await leaseRepository.countEnabled(db)) / live);
    if (watchers.size > share) {
      const surplus = [...watchers.keys()].slice(share);
      await Promise.all(surplus.map(halt));
      await leaseRepository.release(db, ownerId, surplus);
      log.info({ released: surplus.length, share, live }, 'gave mailboxes back to other replicas');
    } else if (watchers.size < share) {
      for (const row of await leaseRepository.claim(db, ownerId, leaseMs, share - watchers.size))
        if (!stopped) launch(row);
    }
  }

  const runRound = (): Promise<void> => {
    round = round
      .then(() => (stopped ? undefined : leaseRound()))
      .catch((err: unknown) => log.error({ err }, 'worker lease round failed'));
    return round;
  };
  const schedule = () => {
    timer = setTimeout(() => {
      void runRound().then(() => {
        if (!stopped) schedule();
      });
    }, scanMs);
  };
  void runRound().then(schedule);
  log.info({ ownerId, leaseMs }, 'worker started');

  return {
    ownerId,
    watching: () => [...watchers.keys()],
    rescan: runRound,
    async stop({ release = true } = {}) {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      await round;
      const ids = [...watchers.keys()];
      await Promise.all(ids.map(halt));
      if (release) {
        await leaseRepository.release(db, ownerId).catch(() => {});
        await leaseRepository.leave(db, ownerId).catch(() => {});
      }
      log.info({ ownerId }, 'worker stopped');
    },
  };
}
