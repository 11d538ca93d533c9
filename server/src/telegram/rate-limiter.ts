/** Telegram's send limits for one bot, with the margins the sender keeps under them. */
export type RateLimits = {
  /** Messages per second over all chats (Telegram: about 30). */
  perSecond: number;
  /** Per chat: a burst of this many, refilled at `chatPerSecond` (Telegram: about 1/s). */
  chatBurst: number;
  chatPerSecond: number;
  /** Per group, supergroup or channel (chat id < 0), in any 60 s (Telegram: 20). */
  groupPerMinute: number;
  /**
   * Added to the 1 s window. Sends already count from their answer — after Telegram
   * counted them — so this only has to cover timer granularity; each millisecond of it costs
   * a full-speed fan-out 0.1 % (bench/fanout.bench.ts).
   */
  windowMarginMs: number;
};

export const defaultRateLimits: RateLimits = {
  perSecond: 30,
  chatBurst: 3,
  chatPerSecond: 1,
  groupPerMinute: 20,
  windowMarginMs: 10,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Stamp = { at: number };

/**
 * One bot's limiter: a sliding window over all sends, a token bucket per chat and a sliding
 * minute per group; `pauseAll` holds every send (a 429's `retry_after`). A send counts from
 * when it is let go and, once its answer is in, from then: Telegram accepted it somewhere
 * between, and a slow request followed by a fast one must not look closer together to
 * Telegram than to us.
 */
export class RateLimiter {
  private sent: Stamp[] = [];
  private group = new Map<number, Stamp[]>();
  private bucket = new Map<number, { tokens: number; at: number }>();
  private pausedUntil = 0;
  constructor(private limits: RateLimits = defaultRateLimits) {}

  pauseAll(ms: number, now = Date.now()) {
    this.pausedUntil = Math.max(this.pausedUntil, now + ms);
  }

  /** How long a send to `chatId` must wait now (0: it may go). */
  delayFor(chatId: number, now = Date.now()): number {
    const l = this.limits;
    const SECOND_WINDOW_MS = 1000 + l.windowMarginMs;
    // The group window is never the hot one in a fan-out: it keeps a wide margin.
    const MINUTE_WINDOW_MS = 60_500;
    let wait = Math.max(0, this.pausedUntil - now);
    this.sent = this.sent.filter((s) => s.at > now - SECOND_WINDOW_MS).sort((a, b) => a.at - b.at);
    if (this.sent.length >= l.perSecond)
      wait = Math.max(wait, this.sent[this.sent.length - l.perSecond]!.at + SECOND_WINDOW_MS - now);
    const b = this.bucket.get(chatId);
    if (b) {
      const tokens = Math.min(
        l.chatBurst,
        b.tokens + (Math.max(0, now - b.at) / 1000) * l.chatPerSecond,
      );
      if (tokens < 1) wait = Math.max(wait, Math.ceil(((1 - tokens) / l.chatPerSecond) * 1000));
    }
    if (chatId < 0) {
      const g = (this.group.get(chatId) ?? [])
        .filter((s) => s.at > now - MINUTE_WINDOW_MS)
        .sort((a, b) => a.at - b.at);
      this.group.set(chatId, g);
      if (g.length >= l.groupPerMinute)
        wait = Math.max(wait, g[g.length - l.groupPerMinute]!.at + MINUTE_WINDOW_MS - now);
    }
    return wait;
  }

  /** Counts a send to `chatId` against every limit; call the result when its answer is in. */
  record(chatId: number, now = Date.now()): (at?: number) => void {
    const l = this.limits;
    const stamp = { at: now };
    this.sent.push(stamp);
    const b = this.bucket.get(chatId);
    const tokens = b
      ? Math.min(l.chatBurst, b.tokens + (Math.max(0, now - b.at) / 1000) * l.chatPerSecond)
      : l.chatBurst;
    const bucket = { tokens: tokens - 1, at: now };
    this.bucket.set(chatId, bucket);
    if (chatId < 0) {
      const g = this.group.get(chatId) ?? [];
      g.push(stamp);
      this.group.set(chatId, g);
    }
    return (at = Date.now()) => {
      stamp.at = Math.max(stamp.at, at);
      // No refill while the request was on its way.
      bucket.at = Math.max(bucket.at, at);
    };
  }

  /** Waits until a send to `chatId` may go and counts it; call the result when its answer is in. */
  async acquire(chatId: number): Promise<(at?: number) => void> {
    for (;;) {
      const wait = this.delayFor(chatId);
      if (wait <= 0) break;
      await sleep(wait);
    }
    return this.record(chatId);
  }
}
