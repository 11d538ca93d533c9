import { GrammyError, HttpError, type Api } from 'grammy';

export type ClaimedDelivery = {
  id: string;
  seq: number;
  telegramChatId: number;
  chatType: string;
  text: string;
  silent: boolean;
  disableLinkPreview: boolean;
  attempts: number;
};
export type DeliveryResult =
  | { outcome: 'sent'; messageIds: number[] }
  | { outcome: 'retry'; error: string; retryAfterMs?: number }
  | { outcome: 'migrated'; newChatId: number }
  | { outcome: 'chat_gone'; reason: string }
  | { outcome: 'failed'; error: string }
  | { outcome: 'unknown'; error: string };
export type InternalApi = {
  claim(limit: number, waitMs: number): Promise<ClaimedDelivery[]>;
  report(id: string, result: DeliveryResult): Promise<void>;
};
export type SenderLimits = {
  perSecond: number;
  chatBurst: number;
  chatPerSecond: number;
  groupPerMinute: number;
};
const defaultLimits: SenderLimits = {
  perSecond: 30,
  chatBurst: 3,
  chatPerSecond: 1,
  groupPerMinute: 20,
};
type Log = {
  info?: (...a: unknown[]) => void;
  warn: (...a: unknown[]) => void;
  error: (...a: unknown[]) => void;
};

/** The runners' client of /internal/v1, authenticated with the bot's runner token. */
export function createInternalApiClient(baseUrl: string, runnerToken: string): InternalApi {
  const call = async (path: string, body: unknown) => {
    const res = await fetch(new URL(`/internal/v1${path}`, baseUrl), {
      method: 'POST',
      headers: { authorization: `Bearer ${runnerToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`internal API ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<unknown>;
  };
  return {
    claim: async (limit, waitMs) =>
      ((await call('/deliveries/claim', { limit, waitMs })) as { deliveries: ClaimedDelivery[] })
        .deliveries,
    report: async (id, result) => {
      await call(`/deliveries/${id}/result`, result);
    },
  };
}

/** Sliding-window + token-bucket limiter (used until src/telegram/rate-limiter.ts lands). */
class Limiter {
  private sent: number[] = [];
  private group = new Map<number, number[]>();
  private bucket = new Map<number, { tokens: number; at: number }>();
  private pausedUntil = 0;
  constructor(private l: SenderLimits) {}
  pauseAll(ms: number) {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
  }
  delayFor(chatId: number, now = Date.now()): number {
    let wait = Math.max(0, this.pausedUntil - now);
    this.sent = this.sent.filter((t) => t > now - 1050);
    if (this.sent.length >= this.l.perSecond) wait = Math.max(wait, this.sent[0]! + 1050 - now);
    const b = this.bucket.get(chatId);
    if (b) {
      const tokens = Math.min(
        this.l.chatBurst,
        b.tokens + ((now - b.at) / 1000) * this.l.chatPerSecond,
      );
      if (tokens < 1)
        wait = Math.max(wait, Math.ceil(((1 - tokens) / this.l.chatPerSecond) * 1000));
    }
    if (chatId < 0) {
      const g = (this.group.get(chatId) ?? []).filter((t) => t > now - 60_000);
      this.group.set(chatId, g);
      if (g.length >= this.l.groupPerMinute) wait = Math.max(wait, g[0]! + 60_500 - now);
    }
    return wait;
  }
  record(chatId: number, now = Date.now()) {
    this.sent.push(now);
    const b = this.bucket.get(chatId);
    const tokens = b
      ? Math.min(this.l.chatBurst, b.tokens + ((now - b.at) / 1000) * this.l.chatPerSecond)
      : this.l.chatBurst;
    this.bucket.set(chatId, { tokens: tokens - 1, at: now });
    if (chatId < 0) (this.group.get(chatId) ?? this.group.set(chatId, []).get(chatId)!).push(now);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const plain = (html: string) =>
  html
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');

function split(html: string, max = 4096): string[] {
  // Fallback splitter on line/word boundaries, for escaped text (no tags to balance).
  const parts: string[] = [];
  let rest = html;
  while (rest.length > max) {
    let cut = rest.lastIndexOf('\n', max);
    if (cut < max / 2) cut = rest.lastIndexOf(' ', max);
    if (cut < max / 2) cut = max;
    while (
      cut > 0 &&
      /&[a-z#0-9]*$/i.test(rest.slice(Math.max(0, cut - 8), cut)) &&
      !/;$/.test(rest.slice(0, cut))
    )
      cut--;
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut).replace(/^\n/, '');
  }
  if (rest.length) parts.push(rest);
  return parts;
}

/** Claims deliveries for this bot and sends them: per chat in order, chats in parallel, under the limits. */
export function startDeliveryLoop(opts: {
  internalApi: InternalApi;
  botApi: Api;
  limits?: Partial<SenderLimits>;
  log: Log;
  batch?: number;
}) {
  const limiter = new Limiter({ ...defaultLimits, ...opts.limits });
  const queues = new Map<number, ClaimedDelivery[]>();
  const running = new Set<number>();
  let stopped = false;
  let wake: (() => void) | undefined;

  async function sendOne(d: ClaimedDelivery): Promise<DeliveryResult> {
    const messageIds: number[] = [];
    let asPlain = false;
    const parts = split(d.text);
    for (let i = 0; i < parts.length; i++) {
      for (;;) {
        const wait = limiter.delayFor(d.telegramChatId);
        if (wait <= 0) break;
        await sleep(wait);
      }
      limiter.record(d.telegramChatId);
      try {
        const text = asPlain ? plain(parts[i]!) : parts[i]!;
        const m = await opts.botApi.sendMessage(d.telegramChatId, text, {
          ...(asPlain ? {} : { parse_mode: 'HTML' as const }),
          disable_notification: d.silent,
          ...(d.disableLinkPreview ? { link_preview_options: { is_disabled: true } } : {}),
        });
        messageIds.push(m.message_id);
      } catch (e) {
        if (e instanceof GrammyError) {
          const desc = e.description;
          if (e.error_code === 429) {
            const ms = (e.parameters.retry_after ?? 1) * 1000;
            limiter.pauseAll(ms);
            i--;
            continue;
          }
          if (e.parameters.migrate_to_chat_id)
            return { outcome: 'migrated', newChatId: e.parameters.migrate_to_chat_id };
          if (e.error_code === 400 && /can't parse entities/i.test(desc) && !asPlain) {
            asPlain = true;
            i--;
            continue;
          }
          if (e.error_code === 403 || /chat not found/i.test(desc))
            return { outcome: 'chat_gone', reason: desc };
          if (e.error_code >= 500) return { outcome: 'retry', error: desc };
          return { outcome: 'failed', error: desc };
        }
        if (e instanceof HttpError) {
          // The request may have reached Telegram: the outcome is unknown.
          return messageIds.length || i > 0
            ? { outcome: 'unknown', error: String(e.message) }
            : { outcome: 'unknown', error: String(e.message) };
        }
        return { outcome: 'retry', error: String(e) };
      }
    }
    return { outcome: 'sent', messageIds };
  }

  async function drain(chatId: number) {
    running.add(chatId);
    try {
      const q = queues.get(chatId)!;
      while (q.length && !stopped) {
        const d = q.shift()!;
        const result = await sendOne(d);
        await opts.internalApi
          .report(d.id, result)
          .catch((e) => opts.log.error({ err: e, deliveryId: d.id }, 'report failed'));
      }
    } finally {
      running.delete(chatId);
      queues.delete(chatId);
      wake?.();
    }
  }

  const loop = (async () => {
    while (!stopped) {
      try {
        if (running.size >= 50) {
          await new Promise<void>((r) => (wake = r));
          continue;
        }
        const batch = await opts.internalApi.claim(opts.batch ?? 100, 5_000);
        for (const d of batch) {
          const q = queues.get(d.telegramChatId) ?? [];
          queues.set(d.telegramChatId, q);
          q.push(d);
          if (!running.has(d.telegramChatId)) void drain(d.telegramChatId);
        }
      } catch (e) {
        opts.log.warn({ err: e }, 'claim failed');
        await sleep(1000);
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      wake?.();
      await Promise.race([loop, sleep(6000)]);
    },
  };
}
