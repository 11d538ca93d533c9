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
   * Added to the 1 s window. The accounting is exact (see RateLimiter), so this covers only the
   * millisecond rounding of our clock and Telegram's (1 ms) and their drift over a second
   * (well under 1 ms); each millisecond costs a full-speed fan-out 0.1 % (bench/fanout.bench.ts).
   */
  windowMarginMs: number;
};

export const defaultRateLimits: RateLimits = {
  perSecond: 30,
  chatBurst: 3,
  chatPerSecond: 1,
  groupPerMinute: 20,
  windowMarginMs: 2,
};

type Grant = (settle: (at?: number) => void) => void;

/** A send: `at` is its request start until its answer is in, then its answer. */
type Stamp = { at: number; pending: boolean };

/**
 * One bot's limiter: a sliding window over all sends, a token bucket per chat and a sliding
 * minute per group; `pauseAll` holds every send (a 429's `retry_after`).
 *
 * The accounting. Telegram counts a message when it receives it, at some time A between our
 * request start S and its answer E (S ≤ A ≤ E), and answers 429 to the 31st of any 31 that
 * arrive within 1000 ms. A new send j arrives no earlier than S_j; an earlier send i arrived
 * no later than E_i — and, while it has no answer yet, it may still arrive at any moment. So
 * the 31 arrivals of j and any 30 others span at least S_j − (the earliest E among those 30),
 * and that is all we can know. j may therefore go when fewer than 30 sends are either in
 * flight or answered within the last 1000 ms (+ margin): an answered send counts from its
 * answer, one in flight counts as "now" until its answer comes. Counting from the request
 * start instead would be safe only with a window of 1000 ms + the longest possible time from
 * start to arrival, which has no bound (a slow network, a request queued in the client).
 * With millisecond clocks on one machine (the fake) ⌊S_j⌋ − ⌊E_i⌋ ≥ 1000 already implies
 * ⌊A_j⌋ − ⌊A_i⌋ ≥ 1000; `windowMarginMs` covers another machine's clock.
 *
 * The cost is one answer latency per 30 sends (the bot's rate is 30 per 1000 ms + margin +
 * latency), which is why the runner must answer fast: its own process, an idle event loop.
 *
 * The chat bucket and the group minute count the same way: a token is taken at the start
 * and refills only from the answer (the latest Telegram may have taken it, which leaves the
 * fewest tokens), and a group's minute counts each send from its answer.
 */
export class RateLimiter {
  private sent: Stamp[] = [];
  private group = new Map<number, Stamp[]>();
  private bucket = new Map<number, { tokens: number; at: number; inFlight: number }>();
  private pausedUntil = 0;
  private waiting: Array<{ chatId: number; grant: Grant }> = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  constructor(private limits: RateLimits = defaultRateLimits) {}

  pauseAll(ms: number, now = Date.now()) {
    this.pausedUntil = Math.max(this.pausedUntil, now + ms);
  }

  /** How long a send to `chatId` must wait now (0: it may go); a send in flight counts as now. */
  delayFor(chatId: number, now = Date.now()): number {
    const l = this.limits;
    const SECOND_WINDOW_MS = 1000 + l.windowMarginMs;
    // The group window is never the hot one in a fan-out: it keeps a wide margin.
    const MINUTE_WINDOW_MS = 60_500;
    const at = (s: Stamp) => (s.pending ? now : s.at);
    let wait = Math.max(0, this.pausedUntil - now);
    this.sent = this.sent.filter((s) => s.pending || s.at > now - SECOND_WINDOW_MS);
    if (this.sent.length >= l.perSecond) {
      const times = this.sent.map(at).sort((a, b) => a - b);
      wait = Math.max(wait, times[times.length - l.perSecond]! + SECOND_WINDOW_MS - now);
    }
    const b = this.bucket.get(chatId);
    if (b) {
      const refill = b.inFlight ? 0 : (Math.max(0, now - b.at) / 1000) * l.chatPerSecond;
      const tokens = Math.min(l.chatBurst, b.tokens + refill);
      // In flight and out of tokens: the refill starts at its answer, a second after it at best.
      if (tokens < 1) wait = Math.max(wait, Math.ceil(((1 - tokens) / l.chatPerSecond) * 1000));
    }
    if (chatId < 0) {
      const g = (this.group.get(chatId) ?? []).filter(
        (s) => s.pending || s.at > now - MINUTE_WINDOW_MS,
      );
      this.group.set(chatId, g);
      if (g.length >= l.groupPerMinute) {
        const times = g.map(at).sort((a, b) => a - b);
        wait = Math.max(wait, times[times.length - l.groupPerMinute]! + MINUTE_WINDOW_MS - now);
      }
    }
    return wait;
  }

  /** Counts a send to `chatId` against every limit; call the result when its answer is in. */
  record(chatId: number, now = Date.now()): (at?: number) => void {
    const l = this.limits;
    const stamp: Stamp = { at: now, pending: true };
    this.sent.push(stamp);
    const b = this.bucket.get(chatId);
    const refill = b && !b.inFlight ? (Math.max(0, now - b.at) / 1000) * l.chatPerSecond : 0;
    const tokens = b ? Math.min(l.chatBurst, b.tokens + refill) : l.chatBurst;
    const bucket = { tokens: tokens - 1, at: now, inFlight: (b?.inFlight ?? 0) + 1 };
    this.bucket.set(chatId, bucket);
    if (chatId < 0) {
      const g = this.group.get(chatId) ?? [];
      g.push(stamp);
      this.group.set(chatId, g);
    }
    let settled = false;
    return (answeredAt = Date.now()) => {
      if (settled) return;
      settled = true;
      stamp.at = Math.max(stamp.at, answeredAt);
      stamp.pending = false;
      const current = this.bucket.get(chatId)!;
      current.inFlight--;
      // No refill while the request was on its way.
      current.at = Math.max(current.at, answeredAt);
      this.pump();
    };
  }

  /**
   * Waits until a send to `chatId` may go and counts it; call the result when its answer is
   * in. One timer and one queue for all chats: when several may go, the longest waiting goes
   * first, and a wait ends as soon as the answer holding it comes in (a send in flight counts
   * as "now"), so the bot-wide budget is never left idle while a chat is ready.
   */
  acquire(chatId: number): Promise<(at?: number) => void> {
    return new Promise((grant) => {
      this.waiting.push({ chatId, grant });
      this.pump();
    });
  }

  /** Lets go every waiting send that may go now, in order of waiting; else sleeps until one may. */
  private pump() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (;;) {
      if (!this.waiting.length) return;
      const now = Date.now();
      let soonest = Infinity;
      const ready = this.waiting.findIndex((w) => {
        const wait = this.delayFor(w.chatId, now);
        soonest = Math.min(soonest, wait);
        return wait <= 0;
      });
      if (ready < 0) {
        this.timer = setTimeout(() => this.pump(), Math.max(1, soonest));
        return;
      }
      const [w] = this.waiting.splice(ready, 1);
      w!.grant(this.record(w!.chatId, now));
    }
  }
}
