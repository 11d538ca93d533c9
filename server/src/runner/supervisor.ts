import type { Logger } from '../logger.js';
import type { RunnerDriver, RunnerExitInfo, RunnerHandle } from './drivers/driver.js';
import { RunnerExit } from './runner.js';

/** A bot as the api tells the supervisor (GET /internal/v1/supervisor/bots). */
export type DesiredBot = {
  id: string;
  name: string;
  enabled: boolean;
  revision: number;
  status: string;
  lastHeartbeatAt: string | null;
  lastError: string | null;
};

/** The supervisor's side of /internal/v1, with its npv_ credential. */
export type SupervisorApi = {
  bots(): Promise<DesiredBot[]>;
  credential(botId: string): Promise<string>;
  status(
    botId: string,
    status: 'starting' | 'error' | 'stopped',
    error?: string | null,
  ): Promise<void>;
};

export function createSupervisorApi(baseUrl: string, token: string): SupervisorApi {
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const res = await fetch(`${baseUrl}/internal/v1/supervisor${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`supervisor API ${path}: ${res.status} ${await res.text()}`);
    return res.status === 204 ? null : ((await res.json()) as unknown);
  };
  return {
    bots: async () => ((await call('GET', '/bots')) as { bots: DesiredBot[] }).bots,
    credential: async (botId) =>
      ((await call('POST', `/bots/${botId}/credential`)) as { runnerToken: string }).runnerToken,
    status: async (botId, status, error) => {
      await call('POST', `/bots/${botId}/status`, { status, error: error ?? null });
    },
  };
}

export type SupervisorOptions = {
  api: SupervisorApi;
  driver: RunnerDriver;
  log: Logger;
  /** The environment every runner gets besides its credential (INTERNAL_API_URL, TELEGRAM_API_ROOT…). */
  runnerEnv: Record<string, string>;
  /** How often the desired state is read. */
  reconcileMs?: number;
  /** A runner this long without a heartbeat is restarted. */
  staleMs?: number;
  /** Crashes in a row before the bot is shown as `error` (restarts go on, at the slowest pace). */
  crashesBeforeError?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /** A runner up this long has recovered: its crash count starts again. */
  healthyAfterMs?: number;
};

type Slot = {
  bot: DesiredBot;
  handle?: RunnerHandle | undefined;
  revision?: number;
  startedAt?: number;
  crashes: number;
  notBefore: number;
  /** Telegram refused the token: nothing to do until the bot changes (a new revision). */
  heldAtRevision?: number | undefined;
  starting?: boolean;
};

/**
 * Keeps exactly one runner per enabled bot: starts the missing, stops the disabled and the
 * deleted, replaces a runner when its bot's revision changes, restarts crashed and silent
 * ones with exponential backoff and jitter, and reports `error` after repeated crashes.
 */
export function startSupervisor(opts: SupervisorOptions) {
  const { api, driver, log } = opts;
  const reconcileMs = opts.reconcileMs ?? 1_000;
  const staleMs = opts.staleMs ?? 30_000;
  const crashesBeforeError = opts.crashesBeforeError ?? 5;
  const baseBackoffMs = opts.baseBackoffMs ?? 1_000;
  const maxBackoffMs = opts.maxBackoffMs ?? 60_000;
  const healthyAfterMs = opts.healthyAfterMs ?? 60_000;
  const slots = new Map<string, Slot>();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const backoff = (crashes: number) => {
    const exp = Math.min(maxBackoffMs, baseBackoffMs * 2 ** Math.max(0, crashes - 1));
    return Math.round(exp * (0.75 + Math.random() * 0.5));
  };

  async function launch(slot: Slot) {
    if (stopped) return;
    const bot = slot.bot;
    slot.starting = true;
    try {
      const runnerToken = await api.credential(bot.id);
      const handle = await driver.start({
        botId: bot.id,
        env: { ...opts.runnerEnv, NOTIFYPRO_RUNNER_TOKEN: runnerToken },
      });
      slot.handle = handle;
      slot.revision = bot.revision;
      slot.startedAt = Date.now();
      if (slot.crashes < crashesBeforeError)
        await api.status(bot.id, 'starting', null).catch(() => {});
      log.info({ botId: bot.id, runner: handle.id, driver: driver.name }, 'runner started');
      void handle.exited.then((exit) => onExit(slot, handle, exit));
    } catch (err) {
      slot.crashes++;
      slot.notBefore = Date.now() + backoff(slot.crashes);
      log.error({ err, botId: bot.id }, 'runner could not be started');
    } finally {
      slot.starting = false;
    }
  }

  async function onExit(slot: Slot, handle: RunnerHandle, exit: RunnerExitInfo) {
    if (slot.handle !== handle) return; // replaced or stopped on purpose
    slot.handle = undefined;
    const upFor = Date.now() - (slot.startedAt ?? Date.now());
    if (exit.code === RunnerExit.stopped || exit.code === RunnerExit.superseded) return;
    if (exit.code === RunnerExit.badToken) {
      slot.heldAtRevision = slot.revision;
      log.warn(
        { botId: slot.bot.id },
        'Telegram refuses the bot token; waiting for the bot to change',
      );
      return;
    }
    if (upFor > healthyAfterMs) slot.crashes = 0;
    slot.crashes++;
    const delay = backoff(slot.crashes);
    slot.notBefore = Date.now() + delay;
    const how = exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`;
    log.warn(
      { botId: slot.bot.id, how, crashes: slot.crashes, restartInMs: delay },
      'runner ended',
    );
    if (slot.crashes >= crashesBeforeError && !stopped)
      await api
        .status(
          slot.bot.id,
          'error',
          `The runner crashed ${slot.crashes} times in a row (last: ${how}); restarting every ${Math.round(delay / 1000)} s`,
        )
        .catch(() => {});
  }

  async function stopSlot(slot: Slot) {
    const handle = slot.handle;
    slot.handle = undefined;
    if (handle) await handle.stop().catch((err) => log.warn({ err }, 'runner stop failed'));
  }

  async function reconcile() {
    const desired = await api.bots();
    const now = Date.now();
    const seen = new Set<string>();
    for (const bot of desired) {
      seen.add(bot.id);
      const slot = slots.get(bot.id) ?? { bot, crashes: 0, notBefore: 0 };
      slots.set(bot.id, slot);
      slot.bot = bot;
      if (slot.starting) continue;
      if (!bot.enabled) {
        if (slot.handle) {
          log.info({ botId: bot.id }, 'bot disabled: stopping its runner');
          await stopSlot(slot);
        }
        slot.crashes = 0;
        slot.heldAtRevision = undefined;
        continue;
      }
      if (slot.handle && slot.revision !== bot.revision) {
        log.info({ botId: bot.id }, 'bot changed: replacing its runner');
        await stopSlot(slot);
        slot.crashes = 0;
        slot.notBefore = 0;
      }
      if (slot.heldAtRevision !== undefined && slot.heldAtRevision !== bot.revision)
        slot.heldAtRevision = undefined;
      if (slot.handle) {
        const beat = bot.lastHeartbeatAt ? Date.parse(bot.lastHeartbeatAt) : 0;
        if (now - Math.max(beat, slot.startedAt ?? 0) > staleMs) {
          log.warn({ botId: bot.id }, 'runner silent: killing it');
          await slot.handle.kill(); // onExit counts it as a crash and schedules the restart
        }
        continue;
      }
      if (slot.heldAtRevision === undefined && now >= slot.notBefore) await launch(slot);
    }
    for (const [id, slot] of slots) {
      if (seen.has(id)) continue;
      log.info({ botId: id }, 'bot deleted: stopping its runner');
      slots.delete(id);
      await stopSlot(slot);
    }
  }

  const ready = (async () => {
    await driver.cleanup?.();
    const tick = async () => {
      if (stopped) return;
      try {
        await reconcile();
      } catch (err) {
        log.warn({ err }, 'supervisor could not reach the api');
      }
      if (!stopped) timer = setTimeout(() => void tick(), reconcileMs);
    };
    await tick();
  })();

  return {
    ready,
    /** The runner of a bot right now (tests kill it to prove the restart). */
    handleOf: (botId: string) => slots.get(botId)?.handle,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await ready.catch(() => {});
      await Promise.all([...slots.values()].map((s) => stopSlot(s)));
    },
  };
}
export type Supervisor = ReturnType<typeof startSupervisor>;
