import { Api, GrammyError, HttpError } from 'grammy';

/** A Bot API client for one token against TELEGRAM_API_ROOT (Telegram, a local Bot API server, or the fake). */
export function createBotApi(token: string, apiRoot: string): Api {
  return new Api(token, { apiRoot });
}

/** What went wrong talking to Telegram, in grammY's split: Telegram answered, or it could not be reached. */
export type TelegramFailure =
  | { kind: 'api'; errorCode: number; description: string }
  | { kind: 'network'; description: string };

export function classifyTelegramError(err: unknown): TelegramFailure {
  if (err instanceof GrammyError)
    return { kind: 'api', errorCode: err.error_code, description: err.description };
  if (err instanceof HttpError)
    return { kind: 'network', description: (err.error as Error)?.message ?? err.message };
  return { kind: 'network', description: (err as Error)?.message ?? String(err) };
}

/** Telegram bot tokens look like `123456789:AA…` (35 characters after the colon in practice). */
export const botTokenPattern = /^\d{1,20}:[A-Za-z0-9_-]{20,100}$/;

/**
 * Runs an idempotent Bot API call (getMe, setWebhook, getChat…), retrying network failures a
 * few times: a keep-alive socket closed by the server just as it is reused fails the first try.
 * Telegram's own answers (GrammyError) are never retried here.
 */
export async function idempotentCall<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof GrammyError || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 200 * i));
    }
  }
}
