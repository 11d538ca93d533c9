/**
 * The worker's periodic housekeeping: alerts (every round) and retention (hourly). Every
 * worker replica runs the loop; a PostgreSQL advisory lock lets one replica at a time do a
 * round, the others skip it. Each job is a typed definition; one failing job is logged and
 * the others still run.
 */
import type { Config } from '../config.js';
import { withAdvisoryLock, type Database } from '../db/client.js';
import type { Logger } from '../logger.js';
import { evaluateAlerts } from '../modules/alerts/service.js';
import { applyRetention } from './retention.js';

/** pg_advisory_lock key of the housekeeping ("np-hk"). */
export const HOUSEKEEPING_LOCK_KEY = 0x6e70686b;

export type HousekeepingContext = {
  db: Database;
  config: Config;
  log: Logger;
  /** True once the worker is stopping: long jobs return between batches. */
  stopping?: () => boolean;
};
export type HousekeepingJob = {
  name: string;
  /** Least time between two runs of this job (0: every round). */
  everyMs: number;
  /** Does the work; returns figures for the log (rows deleted, alerts fired…). */
  run(ctx: HousekeepingContext): Promise<Record<string, number>>;
};

export const alertsJob: HousekeepingJob = {
  name: 'alerts',
  everyMs: 0,
  run: ({ db, config, log }) =>
    evaluateAlerts(db, { runnerStaleSeconds: config.runnerStaleSeconds, log }),
};

export const retentionJob: HousekeepingJob = {
  name: 'retention',
  everyMs: 60 * 60_000,
  run: ({ db, config, stopping }) =>
    applyRetention(db, config.retention, stopping ? { shouldStop: stopping } : {}),
};

export const housekeepingJobs: HousekeepingJob[] = [alertsJob, retentionJob];

export type HousekeepingRound = { skipped: boolean; jobs: Record<string, Record<string, number>> };
export type HousekeepingHandle = {
  /** One round now (tests; the loop calls it too). Rounds never overlap. */
  runOnce(options?: { force?: boolean }): Promise<HousekeepingRound>;
  stop(): Promise<void>;
};

export function startHousekeeping(
  options: HousekeepingContext & {
    jobs?: HousekeepingJob[];
    intervalMs?: number;
    /** false: no timer, rounds only through runOnce (tests). */
    loop?: boolean;
  },
): HousekeepingHandle {
  const { db, config } = options;
  const log = options.log.child({ component: 'housekeeping' });
  const jobs = options.jobs ?? housekeepingJobs;
  const intervalMs = options.intervalMs ?? config.housekeepingIntervalSeconds * 1000;
  const lastRun = new Map<string, number>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<HousekeepingRound> = Promise.resolve({ skipped: true, jobs: {} });

  async function round(force: boolean): Promise<HousekeepingRound> {
    const result = await withAdvisoryLock(db, HOUSEKEEPING_LOCK_KEY, async () => {
      const figures: HousekeepingRound['jobs'] = {};
      for (const job of jobs) {
        if (stopped) break;
        const last = lastRun.get(job.name);
        if (!force && last !== undefined && Date.now() - last < job.everyMs) continue;
        lastRun.set(job.name, Date.now());
        try {
          figures[job.name] = await job.run({ db, config, log, stopping: () => stopped });
          if (Object.values(figures[job.name]!).some((n) => n > 0))
            log.info({ job: job.name, ...figures[job.name] }, 'housekeeping job done');
        } catch (err) {
          log.error({ err, job: job.name }, 'housekeeping job failed');
        }
      }
      return figures;
    });
    return result.skipped ? { skipped: true, jobs: {} } : { skipped: false, jobs: result.value };
  }

  const runOnce = ({ force = false } = {}) => {
    current = current
      .catch(() => undefined)
      .then(() => round(force))
      .catch((err: unknown) => {
        log.error({ err }, 'housekeeping round failed');
        return { skipped: true, jobs: {} };
      });
    return current;
  };
  const schedule = (delayMs = intervalMs) => {
    if (stopped) return;
    timer = setTimeout(() => void runOnce().then(() => schedule()), delayMs);
    timer.unref();
  };
  // the first round soon after start: alerts that cleared while nothing ran resolve at once
  if (options.loop !== false) schedule(Math.min(intervalMs, 10_000));

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current.catch(() => undefined);
    },
  };
}
