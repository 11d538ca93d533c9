import { Bot, GrammyError, HttpError } from 'grammy';
import type { Logger } from '../logger.js';
import { botHandlers } from './commands.js';
import { RunnerSupersededError, type RunnerApi, type Update } from './internal-api.js';
import { whileApiAway } from './retry.js';
import { startDeliveryLoop, type SenderLimits } from './sender.js';

/** How a runner ends, as its exit code tells the supervisor. */
export const RunnerExit = {
  /** Asked to stop, or its bot was disabled. */
  stopped: 0,
  /** Crashed: restart with backoff. */
  crashed: 1,
  /** Telegram refuses the token: no point restarting until the bot is changed. */
  badToken: 78,
  /** Its credential was replaced: another runner took over. */
  superseded: 79,
} as const;

/** Waits ms, or until the signal aborts; leaves no listener behind (the loops sleep forever). */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

export type RunnerOptions = {
  api: RunnerApi;
  telegramApiRoot: string;
  heartbeatSeconds: number;
  log: Logger;
  limits?: Partial<SenderLimits>;
  /** Long-poll timeout of getUpdates, seconds (Telegram's maximum useful is 50). */
  pollTimeoutSeconds?: number;
};

/**
 * One bot's runner: receives its updates (polling, or from the api in webhook mode), hands
 * them to the handlers once each, sends its deliveries, and reports heartbeats. Resolves with
 * the exit code when it ends.
 */
export function startRunner(opts: RunnerOptions): { done: Promise<number>; stop(): void } {
  const { api, log } = opts;
  const abort = new AbortController();
  const signal = abort.signal;
  let exitCode: number = RunnerExit.stopped;
  let lastError: string | null = null;
  const end = (code: number, reason: string) => {
    if (signal.aborted) return;
    exitCode = code;
    log.info({ code, reason }, 'runner ending');
    abort.abort();
  };
  /** Errors every loop treats the same way: a lost credential or a revoked token end the runner. */
  const fatal = (err: unknown) => {
    if (err instanceof RunnerSupersededError) {
      end(RunnerExit.superseded, err.message);
      return true;
    }
    if (err instanceof GrammyError && (err.error_code === 401 || err.error_code === 404)) {
      lastError = `Telegram rejected the token: ${err.description}`;
      void api.heartbeat('error', lastError).catch(() => {});
      end(RunnerExit.badToken, lastError);
      return true;
    }
    return false;
  };

  const done = (async () => {
    const info = await api.bot();
    const bot = new Bot(info.token, { client: { apiRoot: opts.telegramApiRoot } });
    try {
      await bot.init();
    } catch (err) {
      if (!fatal(err)) throw err;
      await api.heartbeat('error', lastError).catch(() => {});
      return exitCode;
    }
    bot.use(botHandlers(api));
    bot.catch((e) =>
      log.error({ err: e.error, updateId: e.ctx.update.update_id }, 'update handler failed'),
    );
    log.info(
      { botId: info.botId, username: bot.botInfo.username, mode: info.mode },
      'runner started',
    );

    const loops: Array<Promise<void>> = [];
    const heartbeat = async () => {
      while (!signal.aborted) {
        try {
          const r = await api.heartbeat(lastError ? 'error' : 'running', lastError);
          if (!r.enabled) end(RunnerExit.stopped, 'bot disabled');
        } catch (err) {
          if (!fatal(err)) log.warn({ err }, 'heartbeat failed');
        }
        await sleep(opts.heartbeatSeconds * 1000, signal);
      }
    };
    loops.push(heartbeat());

    if (info.mode === 'polling') {
      loops.push(
        (async () => {
          // A webhook left behind makes getUpdates answer 409: polling mode owns the bot.
          try {
            const hook = await bot.api.getWebhookInfo();
            if (hook.url) await bot.api.deleteWebhook();
          } catch (err) {
            if (fatal(err)) return;
          }
          let offset = 0;
          let backoff = 1000;
          while (!signal.aborted) {
            try {
              const updates = await bot.api.getUpdates(
                {
                  offset,
                  timeout: opts.pollTimeoutSeconds ?? 25,
                  allowed_updates: info.allowedUpdates as never,
                },
                signal as never,
              );
              // Stored before the next offset confirms them to Telegram: a crash loses nothing.
              if (updates.length) await api.storeUpdates(updates as unknown as Update[]);
              if (updates.length) offset = updates[updates.length - 1]!.update_id + 1;
              lastError = null;
              backoff = 1000;
            } catch (err) {
              if (signal.aborted || fatal(err)) return;
              lastError =
                err instanceof GrammyError
                  ? err.description
                  : err instanceof HttpError
                    ? `Telegram unreachable: ${err.message}`
                    : String((err as Error).message ?? err);
              log.warn({ err }, 'getUpdates failed');
              await sleep(backoff + Math.random() * backoff, signal);
              backoff = Math.min(backoff * 2, 30_000);
            }
          }
        })(),
      );
    }

    loops.push(
      (async () => {
        while (!signal.aborted) {
          try {
            const updates = await api.claimUpdates(50, 25_000, signal);
            for (const u of updates) {
              if (signal.aborted) return;
              await bot.handleUpdate(u as never);
            }
            // Handled: if the api does not hear it (it is restarting), they would be handled
            // again once their claim runs out — a bot's answer sent twice.
            await whileApiAway(() => api.updatesDone(updates.map((u) => u.update_id)), {
              stopped: () => signal.aborted,
              onRetry: (err) => log.warn({ err }, 'marking updates handled failed; trying again'),
            });
          } catch (err) {
            if (signal.aborted || fatal(err)) return;
            log.warn({ err }, 'processing updates failed');
            await sleep(1000, signal);
          }
        }
      })(),
    );

    const delivery = startDeliveryLoop({
      internalApi: {
        claim: async (limit, waitMs) => {
          try {
            // The runner's signal ends a waiting claim at once when the runner stops.
            return await api.claim(limit, waitMs, signal);
          } catch (err) {
            if (signal.aborted) return []; // stopping: not a failure
            fatal(err);
            throw err;
          }
        },
        report: (id, result) => api.report(id, result),
        attachment: (id) => api.attachment(id),
      },
      botApi: bot.api,
      log,
      ...(opts.limits ? { limits: opts.limits } : {}),
    });

    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    await Promise.allSettled([...loops, delivery.stop()]);
    // Last word, after every loop is done: no in-flight 'running' heartbeat can overwrite it.
    if (exitCode === RunnerExit.badToken) await api.heartbeat('error', lastError).catch(() => {});
    return exitCode;
  })().catch((err: unknown) => {
    if (err instanceof RunnerSupersededError) return RunnerExit.superseded;
    log.error({ err }, 'runner crashed');
    return RunnerExit.crashed;
  });

  return { done, stop: () => end(RunnerExit.stopped, 'stop requested') };
}
