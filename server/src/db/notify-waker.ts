import pg from 'pg';

/** The part of a Node response a long poll watches (Fastify's reply.raw). */
type ServerResponseLike = {
  writableFinished: boolean;
  on(event: 'close', fn: () => void): unknown;
};

/**
 * One LISTEN connection on a channel whose payload is a key (a bot id), fanning wake-ups out to
 * the long polls waiting on that key. When the connection drops (server restart,
 * pg_terminate_backend, network), every waiter is woken at once — a NOTIFY sent while nobody
 * listened is lost, so they look at the table again — and it reconnects with backoff.
 */
export class NotifyWaker {
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private waiters = new Map<string, Set<() => void>>();
  // Wake-ups per key and lost connections so far: what mark() reads (bot ids: a few keys).
  private wakes = new Map<string, number>();
  private drops = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private backoffMs = 0;
  /** Set by close(): waits return at once, so long polls end and the server can shut down. */
  closed = false;
  /** How many times the LISTEN connection was lost and a new one asked for. */
  reconnects = 0;
  constructor(
    private url: string | undefined,
    private channel: string,
  ) {}

  private async ensure() {
    if (this.client || !this.url || this.closed) return;
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.url });
      let lost = false;
      const onLost = () => {
        if (lost) return;
        lost = true;
        if (this.client === client) this.client = undefined;
        this.connecting = undefined;
        void client.end().catch(() => {});
        this.dropped();
      };
      client.on('error', onLost);
      client.on('end', onLost);
      client.on('notification', (m) => this.wake(m.payload ?? ''));
      try {
        await client.connect();
        await client.query(`LISTEN ${this.channel}`);
        if (lost) throw new Error('LISTEN connection lost while connecting');
        this.client = client;
        this.backoffMs = 0;
      } catch (err) {
        // Not cached: the next wait (or the scheduled retry) tries again.
        this.connecting = undefined;
        lost = true;
        await client.end().catch(() => {});
        throw err;
      }
    })();
    await this.connecting;
  }

  /** The connection is gone: wake everyone (they re-check), then listen again soon. */
  private dropped() {
    if (this.closed) return;
    this.reconnects++;
    this.drops++;
    for (const set of this.waiters.values()) for (const w of [...set]) w();
    if (this.retry) return;
    this.backoffMs = Math.min(5_000, Math.max(100, this.backoffMs * 2));
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.closed) this.ensure().catch(() => this.dropped());
    }, this.backoffMs);
    this.retry.unref?.();
  }

  wake(key: string) {
    this.wakes.set(key, (this.wakes.get(key) ?? 0) + 1);
    for (const w of this.waiters.get(key) ?? []) w();
  }

  /**
   * Taken before looking at the table: passed to wait(), a wake-up that came in between (a
   * NOTIFY heard while the claim ran, after its snapshot) ends that wait at once instead of
   * being missed until the timeout.
   */
  mark(key: string): number {
    return this.drops + (this.wakes.get(key) ?? 0);
  }

  /** Resolves when work for the key is announced (since `mark`, when given) or after ms. */
  async wait(botId: string, ms: number, signal: { aborted: boolean }, mark?: number) {
    await this.ensure().catch(() => {});
    if (signal.aborted || this.closed) return;
    if (mark !== undefined && this.mark(botId) !== mark) return;
    await new Promise<void>((resolve) => {
      const set = this.waiters.get(botId) ?? new Set();
      this.waiters.set(botId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (!set.size) this.waiters.delete(botId);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }

  /**
   * A long poll: runs `look` until it finds something, the caller goes away, the waker closes,
   * or `waitMs` is spent — between looks it waits for a NOTIFY on `key`, at most `recheckMs`
   * (what no NOTIFY announces, expired leases and due retries, shows on the next look).
   */
  async poll<T extends { length: number }>(
    key: string,
    options: { waitMs: number; recheckMs: number; reply: { raw: ServerResponseLike } },
    look: () => Promise<T>,
  ): Promise<T> {
    const deadline = Date.now() + options.waitMs;
    const signal = { aborted: false };
    // The caller went away (the request's own 'close' fires as soon as its body is read).
    const raw = options.reply.raw;
    raw.on('close', () => {
      if (!raw.writableFinished) signal.aborted = true;
    });
    for (;;) {
      const mark = this.mark(key); // a NOTIFY while `look` runs is not missed
      const found = await look();
      const left = deadline - Date.now();
      if (found.length || left <= 0 || signal.aborted || this.closed) return found;
      await this.wait(key, Math.min(left, options.recheckMs), signal, mark);
      // The caller went away while it waited (a runner restarted): look for nobody — a claim
      // made now would hold the work under a lease that no one sends until it expires.
      if (signal.aborted || this.closed) return found;
    }
  }

  async close() {
    this.closed = true;
    clearTimeout(this.retry);
    for (const set of this.waiters.values()) for (const w of [...set]) w();
    await this.client?.end().catch(() => {});
    this.client = undefined;
  }
}
