import { InternalApiError, RunnerSupersededError } from './internal-api.js';

/** How long a runner keeps telling the api what it did while the api is away. */
const API_AWAY_RETRY_MS = 5 * 60_000;

/**
 * Whether a failed call of the internal API may succeed later: the api unreachable or
 * answering 5xx (restarting, being deployed). A 4xx or a replaced credential will not change.
 */
const mayPass = (e: unknown) =>
  !(e instanceof RunnerSupersededError) && !(e instanceof InternalApiError && e.status < 500);

/**
 * Makes `call` until the api takes it: while the api is away, again with backoff (0.2 s
 * doubling to 5 s, jittered) for up to 5 minutes. A failure that will not pass, running out of
 * time, or `stopped()` ends it with the last error.
 */
export async function whileApiAway<T>(
  call: () => Promise<T>,
  opts: {
    stopped: () => boolean;
    onRetry: (err: unknown, attempt: number) => void;
  },
): Promise<T> {
  const giveUpAt = Date.now() + API_AWAY_RETRY_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (opts.stopped() || !mayPass(e) || Date.now() >= giveUpAt) throw e;
      opts.onRetry(e, attempt);
      const backoff = Math.min(5_000, 200 * 2 ** attempt) * (0.5 + Math.random() / 2);
      await new Promise((r) => setTimeout(r, backoff));
    }
  }
}
