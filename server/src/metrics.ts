/**
 * The Prometheus registry of this process, served at GET /metrics. Services increment the
 * exported counters and histograms; queue, bot and mailbox figures are read from
 * PostgreSQL on each scrape (so every api replica reports the same, current values).
 */
import { sql } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from './db/client.js';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'notifypro_' });

export const httpRequestDuration = new Histogram({
  name: 'notifypro_http_request_duration_seconds',
  help: 'HTTP request duration by route template, method and status code',
  labelNames: ['route', 'method', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

/** Deliveries by what happened: queued (accepted), then sent | failed | dead (final). */
export const deliveriesTotal = new Counter({
  name: 'notifypro_deliveries_total',
  help: 'Deliveries queued, and reaching a final status (sent, failed, dead)',
  labelNames: ['status'] as const,
  registers: [registry],
});

/** A delivery queued again: error (5xx, network), unknown (no answer), migrated, handover (another bot). */
export const deliveryRetriesTotal = new Counter({
  name: 'notifypro_delivery_retries_total',
  help: 'Deliveries queued again after an attempt, by reason',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const telegram429Total = new Counter({
  name: 'notifypro_telegram_429_total',
  help: 'Telegram 429 Too Many Requests answers',
  registers: [registry],
});

/** One Bot API send, request to response (measured by the runners, reported with each result). */
export const sendLatencySeconds = new Histogram({
  name: 'notifypro_send_latency_seconds',
  help: 'Telegram send latency',
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
  registers: [registry],
});

/**
 * From the event's receipt (the e-mail stored by the worker, the webhook call, the API
 * request: the delivery is created in that transaction) to the Telegram message sent, by
 * source (mail, webhook, api).
 */
export const e2eLatencySeconds = new Histogram({
  name: 'notifypro_e2e_latency_seconds',
  help: 'End-to-end latency from event receipt to Telegram, by event source',
  labelNames: ['source'] as const,
  buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
  registers: [registry],
});

let scrapeDatabase: Database | null = null;

async function rows<T>(query: ReturnType<typeof sql>): Promise<T[]> {
  if (!scrapeDatabase) return [];
  try {
    return (await scrapeDatabase.execute(query)).rows as T[];
  } catch {
    return []; // a scrape must not fail because PostgreSQL is briefly unreachable
  }
}

export const queueDepth = new Gauge({
  name: 'notifypro_queue_depth',
  help: 'Deliveries waiting to be sent, by status (queued, sending)',
  labelNames: ['status'] as const,
  registers: [registry],
  async collect() {
    const counts = { queued: 0, sending: 0 };
    for (const r of await rows<{ status: 'queued' | 'sending'; n: number }>(
      sql`select status, count(*)::int as n from deliveries where status in ('queued', 'sending') group by status`,
    ))
      counts[r.status] = r.n;
    for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
  },
});

export const oldestQueuedAgeSeconds = new Gauge({
  name: 'notifypro_oldest_queued_age_seconds',
  help: 'Age of the oldest queued delivery',
  registers: [registry],
  async collect() {
    const [r] = await rows<{ age: number | null }>(
      sql`select extract(epoch from now() - min(created_at))::float8 as age from deliveries where status = 'queued'`,
    );
    this.set(r?.age ?? 0);
  },
});

export const botsByStatus = new Gauge({
  name: 'notifypro_bots',
  help: 'Enabled bots by status',
  labelNames: ['status'] as const,
  registers: [registry],
  async collect() {
    this.reset();
    for (const status of ['stopped', 'starting', 'running', 'error']) this.set({ status }, 0);
    for (const r of await rows<{ status: string; n: number }>(
      sql`select status, count(*)::int as n from bots where enabled group by status`,
    ))
      this.set({ status: r.status }, r.n);
  },
});

export const mailboxesByStatus = new Gauge({
  name: 'notifypro_mailboxes',
  help: 'Enabled mailboxes by status',
  labelNames: ['status'] as const,
  registers: [registry],
  async collect() {
    this.reset();
    for (const status of ['pending', 'ok', 'error']) this.set({ status }, 0);
    for (const r of await rows<{ status: string; n: number }>(
      sql`select status, count(*)::int as n from mailboxes where enabled group by status`,
    ))
      this.set({ status: r.status }, r.n);
  },
});

export const alertsOpen = new Gauge({
  name: 'notifypro_alerts_open',
  help: 'Alerts fired and not resolved, by kind (bot, mailbox, deliveries)',
  labelNames: ['kind'] as const,
  registers: [registry],
  async collect() {
    this.reset();
    for (const kind of ['bot', 'mailbox', 'deliveries']) this.set({ kind }, 0);
    for (const r of await rows<{ kind: string; n: number }>(
      sql`select kind, count(*)::int as n from alerts where resolved_at is null and fired_at is not null group by kind`,
    ))
      this.set({ kind: r.kind }, r.n);
  },
});

/**
 * The workers count each reconnect on the mailbox row (a worker replica serves no /metrics),
 * so every api replica reports the same installation-wide total. Deleting a mailbox removes
 * its share, which Prometheus reads as a counter reset.
 */
export const watcherReconnectsTotal = new Counter({
  name: 'notifypro_watcher_reconnects_total',
  help: 'Mailbox watcher reconnects after an error (all mailboxes, all worker replicas)',
  registers: [registry],
  async collect() {
    const [r] = await rows<{ n: number }>(
      sql`select coalesce(sum(reconnects), 0)::float8 as n from mailboxes`,
    );
    this.reset();
    if (r?.n) this.inc(r.n);
  },
});

/**
 * Times every request (by route template, never the raw URL) and serves GET /metrics,
 * behind `Authorization: Bearer <token>` when a token is configured.
 */
export function registerMetrics(
  app: FastifyInstance,
  options: { db: Database; token: string | undefined },
): void {
  scrapeDatabase = options.db;
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    httpRequestDuration.observe(
      { route, method: request.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (options.token && request.headers.authorization !== `Bearer ${options.token}`) {
      return reply
        .status(401)
        .header('www-authenticate', 'Bearer')
        .type('text/plain')
        .send('unauthorized\n');
    }
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
