import { GrammyError, HttpError } from 'grammy';

/**
 * What a failed Bot API send means for the delivery. Telegram answered (grammY's
 * GrammyError: `error_code`, `parameters`) or it could not be reached (HttpError: the
 * request may or may not have arrived).
 */
export type SendFailure =
  /** 429: the whole bot waits `retryAfterMs`, then the same send is repeated. */
  | { kind: 'rate_limited'; retryAfterMs: number; description: string }
  /** The group became a supergroup: resend to `newChatId`. */
  | { kind: 'migrated'; newChatId: number; description: string }
  /** Telegram refused the markup: resend as plain text. */
  | { kind: 'unparseable'; description: string }
  /** 403 kicked/blocked/deactivated, or the chat does not exist: this bot cannot send there. */
  | { kind: 'chat_gone'; description: string }
  /** The file is over what this Bot API server takes. */
  | { kind: 'too_large'; description: string }
  /** 5xx and other answers worth repeating later. */
  | { kind: 'transient'; description: string }
  /** No answer: the message may have been sent. */
  | { kind: 'unknown'; description: string }
  /** Any other 4xx: repeating it would fail the same way. */
  | { kind: 'rejected'; description: string };

/** Classifies an error thrown by a grammY `Api` send call. */
export function classifySendError(err: unknown): SendFailure {
  if (err instanceof GrammyError) {
    const description = err.description;
    const code = err.error_code;
    if (code === 429)
      return {
        kind: 'rate_limited',
        retryAfterMs: Math.max(1, err.parameters.retry_after ?? 1) * 1000,
        description,
      };
    if (err.parameters.migrate_to_chat_id)
      return { kind: 'migrated', newChatId: err.parameters.migrate_to_chat_id, description };
    if (code === 400 && /can't parse entities/i.test(description))
      return { kind: 'unparseable', description };
    if (code === 403 || (code === 400 && /chat not found|PEER_ID_INVALID/i.test(description)))
      return { kind: 'chat_gone', description };
    if (code === 413 || /too big|too large|FILE_PARTS_INVALID/i.test(description))
      return { kind: 'too_large', description };
    if (code >= 500 || code === 420) return { kind: 'transient', description };
    return { kind: 'rejected', description };
  }
  if (err instanceof HttpError)
    return { kind: 'unknown', description: (err.error as Error)?.message ?? err.message };
  return { kind: 'transient', description: (err as Error)?.message ?? String(err) };
}
