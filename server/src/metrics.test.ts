import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../test/app.js';
import { startDeliveryKit, type DeliveryKit } from '../test/delivery-kit.js';
import { insertBot, signup, type SignedUp } from '../test/factories.js';
import { connectDatabase } from './db/client.js';
import { deliveries, mailboxes } from './db/schema.js';
import { createLogger } from './logger.js';
import { deliveriesTotal, telegram429Total } from './metrics.js';
import { ingestEvent } from './modules/events/service.js';
import { enqueueNotification } from './modules/notifications/service.js';
import { startWorker } from './worker/service.js';

describe('GET /metrics', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(async () => t?.close());

  it('reports HTTP durations by route template and every named metric', async () => {
    await t.request({ method: 'GET', url: '/healthz' });
    await t.request({ method: 'GET', url: '/healthz' });
    await t.request({ method: 'GET', url: '/api/v1/no-such-thing' });
    deliveriesTotal.inc({ status: 'sent' }, 3);
    telegram429Total.inc();
    const res = await t.request({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    expect(text).toMatch(
      /notifypro_http_request_duration_seconds_count\{route="\/healthz",method="GET",status="200"\} 2/,
    );
    expect(text).toMatch(
      /notifypro_http_request_duration_seconds_count\{route="unmatched",method="GET",status="404"\} 1/,
    );
    expect(text).toMatch(/notifypro_deliveries_total\{status="sent"\} 3/);
    expect(text).toMatch(/notifypro_telegram_429_total 1/);
    expect(text).toMatch(/notifypro_queue_depth\{status="queued"\} 0/);
    expect(text).toMatch(/notifypro_oldest_queued_age_seconds 0/);
    expect(text).toMatch(/notifypro_bots\{status="running"\} 0/);
    for (const name of [
      'notifypro_send_latency_seconds',
      'notifypro_e2e_latency_seconds',
      'notifypro_mailboxes',
      'notifypro_watcher_reconnects_total',
      'notifypro_process_cpu_seconds_total',
    ]) {
      expect(text).toContain(`# TYPE ${name}`);
    }
  });

  it('serves every metric the Grafana dashboard in deploy/ queries', async () => {
    const dashboard = readFileSync(
      new URL('../../deploy/grafana-dashboard.json', import.meta.url),
      'utf8',
    );
    const queried = new Set(
      [...dashboard.matchAll(/notifypro_[a-z0-9_]+/g)].map((m) =>
        m[0].replace(/_(bucket|count|sum)$/, ''),
      ),
    );
    expect(queried.size).toBeGreaterThan(8);
    const text = (await t.request({ method: 'GET', url: '/metrics' })).body;
    for (const name of queried) expect(text, name).toContain(`# TYPE ${name} `);
  });

  it('requires the bearer token when METRICS_TOKEN is set', async () => {
    const locked = await createTestApp({ METRICS_TOKEN: 'scrape-secret' });
    try {
      expect((await locked.request({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
      expect(
        (await locked.request({ method: 'GET', url: '/metrics', token: 'wrong' })).statusCode,
      ).toBe(401);
      expect(
        (await locked.request({ method: 'GET', url: '/metrics', token: 'scrape-secret' }))
          .statusCode,
      ).toBe(200);
    } finally {
      await locked.close();
    }
  });
});

/** `name{labels}` → value, from the Prometheus text format. */
function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return values;
}

describe('metrics after a known flow', () => {
  let t: TestApp;
  let owner: SignedUp;
  let kit: DeliveryKit;
  beforeAll(async () => {
    t = await createTestApp({ MAIL_ALLOW_PRIVATE_HOSTS: 'true' });
    owner = await signup(t);
    kit = await startDeliveryKit(t, owner.orgId, { chats: 2 });
  });
  afterAll(async () => {
    await kit?.close();
    await t?.close();
  });

  const scrape = async () =>
    parseMetrics((await t.request({ method: 'GET', url: '/metrics' })).body);
  const value = (m: Map<string, number>, key: string) => m.get(key) ?? 0;
  async function until(what: string, probe: () => Promise<boolean>) {
    const end = Date.now() + 15_000;
    while (!(await probe())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('counts a mail and an API notification sent: deliveries, send and e2e latency by source', async () => {
    const before = await scrape();
    await kit.addRule({ chat: 0, match: 'disk full' });
    const ingested = await ingestEvent({ db: t.deps.db }, owner.orgId, {
      source: 'mail',
      subject: 'disk full on db1',
      from: 'nagios@example.com',
      to: 'ops@example.com',
      text: 'it is full',
      headers: {},
    });
    expect(ingested?.matchedRuleIds).toHaveLength(1);
    const res = await t.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/notifications`,
      token: owner.token,
      payload: { text: 'deploy done', chatIds: [kit.chatIds[1]] },
    });
    expect(res.statusCode).toBe(202);
    await until('both sent', async () => {
      const m = await scrape();
      return (
        value(m, 'notifypro_deliveries_total{status="sent"}') -
          value(before, 'notifypro_deliveries_total{status="sent"}') ===
        2
      );
    });
    const after = await scrape();
    const delta = (key: string) => value(after, key) - value(before, key);
    expect(delta('notifypro_deliveries_total{status="queued"}')).toBe(2);
    expect(delta('notifypro_e2e_latency_seconds_count{source="mail"}')).toBe(1);
    expect(delta('notifypro_e2e_latency_seconds_count{source="api"}')).toBe(1);
    expect(delta('notifypro_e2e_latency_seconds_count{source="webhook"}')).toBe(0);
    // a little text in one message each: one Bot API call per delivery
    expect(delta('notifypro_send_latency_seconds_count')).toBe(2);
    expect(delta('notifypro_telegram_429_total')).toBe(0);
    expect(value(after, 'notifypro_queue_depth{status="queued"}')).toBe(0);
    expect(value(after, 'notifypro_queue_depth{status="sending"}')).toBe(0);
    expect(value(after, 'notifypro_oldest_queued_age_seconds')).toBe(0);
    expect(kit.fake.messages().map((m) => m.plainText)).toEqual(
      expect.arrayContaining(['disk full on db1', 'deploy done']),
    );
  });

  it('reads queue depth, the oldest queued age, bots and mailboxes by status from PostgreSQL', async () => {
    // a bot no runner serves: what is queued for it stays queued
    const idle = await insertBot(t, owner.orgId, { name: 'idle', status: 'error' });
    const queued = await t.deps.db.transaction((tx) =>
      enqueueNotification(tx, owner.orgId, {
        source: 'api',
        text: 'stuck',
        format: 'text',
        targets: [
          { chatId: kit.chatIds[0]!, botId: idle!.id },
          { chatId: kit.chatIds[1]!, botId: idle!.id },
        ],
      }),
    );
    await t.deps.db
      .update(deliveries)
      .set({ createdAt: sql`now() - interval '120 seconds'` })
      .where(eq(deliveries.id, queued.deliveries[0]!.id));
    await t.deps.db
      .update(deliveries)
      .set({ status: 'sending' })
      .where(eq(deliveries.id, queued.deliveries[1]!.id));
    await t.deps.db.insert(mailboxes).values(
      (['ok', 'error', 'error'] as const).map((status, i) => ({
        orgId: owner.orgId,
        name: `m${i}`,
        protocol: 'imap' as const,
        host: 'mail.example.com',
        port: 993,
        security: 'tls' as const,
        username: 'u',
        secretEncrypted: t.deps.secrets.encrypt('pw'),
        status,
        reconnects: i * 2,
        enabled: i < 2, // the third is disabled: not in the status gauge, its reconnects still count
      })),
    );
    const m = await scrape();
    expect(value(m, 'notifypro_queue_depth{status="queued"}')).toBe(1);
    expect(value(m, 'notifypro_queue_depth{status="sending"}')).toBe(1);
    expect(value(m, 'notifypro_oldest_queued_age_seconds')).toBeGreaterThanOrEqual(120);
    expect(value(m, 'notifypro_oldest_queued_age_seconds')).toBeLessThan(3600);
    expect(value(m, 'notifypro_bots{status="running"}')).toBe(1);
    expect(value(m, 'notifypro_bots{status="error"}')).toBe(1);
    expect(value(m, 'notifypro_bots{status="stopped"}')).toBe(0);
    expect(value(m, 'notifypro_mailboxes{status="ok"}')).toBe(1);
    expect(value(m, 'notifypro_mailboxes{status="error"}')).toBe(1);
    expect(value(m, 'notifypro_mailboxes{status="pending"}')).toBe(0);
    expect(value(m, 'notifypro_watcher_reconnects_total')).toBe(6);
    await t.deps.db.delete(deliveries).where(eq(deliveries.notificationId, queued.notification.id));
    await t.deps.db.delete(mailboxes).where(eq(mailboxes.orgId, owner.orgId));
  });

  it("counts a worker's reconnects on the mailbox, so the api's /metrics reports them", async () => {
    // a port nothing listens on: every connection attempt is refused at once
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const [mb] = await t.deps.db
      .insert(mailboxes)
      .values({
        orgId: owner.orgId,
        name: 'refused',
        protocol: 'imap',
        host: '127.0.0.1',
        port,
        security: 'none',
        username: 'u',
        secretEncrypted: t.deps.secrets.encrypt('pw'),
      })
      .returning();
    const workerDb = connectDatabase(t.database.url, 2);
    const worker = startWorker({
      config: t.config,
      db: workerDb.db,
      log: createLogger('silent'),
      secrets: t.deps.secrets,
      leaseMs: 3_000,
      scanMs: 200,
      backoff: { initialMs: 20, maxMs: 40 },
    });
    try {
      await until('three reconnects', async () => {
        const [row] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb!.id));
        return (row?.reconnects ?? 0) >= 3;
      });
    } finally {
      await worker.stop();
      await workerDb.close();
    }
    const [row] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb!.id));
    expect(row!.status).toBe('error');
    const m = await scrape();
    expect(value(m, 'notifypro_watcher_reconnects_total')).toBe(row!.reconnects);
    expect(value(m, 'notifypro_mailboxes{status="error"}')).toBe(1);
  });
});
