import pg from 'pg';

/**
 * One LISTEN connection on a channel whose payload is a key (a bot id), fanning wake-ups out to
 * the long polls waiting on that key. Reconnects on the next wait after the connection drops.
 */
export class NotifyWaker {
  private client: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private waiters = new Map<string, Set<() => void>>();
  /** Set by close(): waits return at once, so long polls end and the server can shut down. */
  closed = false;
  constructor(
    private url: string | undefined,
    private channel: string,
  ) {}

  private async ensure() {
    if (this.client || !this.url || this.closed) return;
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.url });
      client.on('error', () => {
        this.client = undefined;
        this.connecting = undefined;
      });
      client.on('notification', (m) => this.wake(m.payload ?? ''));
      client.on('end', () => {
        if (this.client === client) this.client = undefined;
        this.connecting = undefined;
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${this.channel}`);
        this.client = client;
      } catch (err) {
        // Not cached: the next wait tries again (the callers' 1 s cap covers the gap).
        this.connecting = undefined;
        await client.end().catch(() => {});
        throw err;
      }
    })();
    await this.connecting;
  }

  wake(key: string) {
    for (const w of this.waiters.get(key) ?? []) w();
  }

  /** Resolves when work for the key is announced or after ms. */
  async wait(botId: string, ms: number, signal: { aborted: boolean }) {
    await this.ensure().catch(() => {});
    if (signal.aborted || this.closed) return;
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

  async close() {
    this.closed = true;
    for (const set of this.waiters.values()) for (const w of [...set]) w();
    await this.client?.end().catch(() => {});
    this.client = undefined;
  }
}
