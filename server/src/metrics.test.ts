import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../test/app.js';
import { deliveriesTotal, telegram429Total } from './metrics.js';

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
    expect(text).toMatch(/notifypro_queue_depth 0/);
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
