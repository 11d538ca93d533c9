import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveries, events, notifications } from '../../db/schema.js';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { addMember, insertChats, signup, type SignedUp } from '../../../test/factories.js';

let t: TestApp;
let owner: SignedUp;
let other: SignedUp;

/** Two days of traffic in an org: events by source, deliveries in each state. */
async function seed(org: SignedUp, day1: string, day2: string) {
  const db = t.deps.db;
  const [chat] = await insertChats(t, org.orgId, 1);
  const [n] = await db
    .insert(notifications)
    .values({ orgId: org.orgId, source: 'api', text: 'x' })
    .returning();
  await db.insert(events).values([
    { orgId: org.orgId, source: 'mail', receivedAt: new Date(`${day1}T08:00:00Z`) },
    { orgId: org.orgId, source: 'webhook', receivedAt: new Date(`${day1}T09:00:00Z`) },
    { orgId: org.orgId, source: 'webhook', receivedAt: new Date(`${day2}T23:59:00Z`) },
  ]);
  const at = (d: string, h: string) => new Date(`${d}T${h}Z`);
  await db.insert(deliveries).values(
    [
      { status: 'sent', createdAt: at(day1, '10:00:00'), sentAt: at(day1, '10:00:01') },
      { status: 'sent', createdAt: at(day1, '11:00:00'), sentAt: at(day1, '11:00:03') },
      { status: 'sent', createdAt: at(day2, '10:00:00'), sentAt: at(day2, '10:00:05') },
      { status: 'dead', createdAt: at(day2, '12:00:00'), sentAt: null },
      { status: 'queued', createdAt: at(day2, '13:00:00'), sentAt: null },
    ].map((d) => ({
      ...d,
      status: d.status as 'sent',
      orgId: org.orgId,
      notificationId: n!.id,
      chatId: chat!.id,
    })),
  );
}

beforeAll(async () => {
  t = await createTestApp();
  owner = await signup(t);
  other = await signup(t);
  await seed(owner, '2026-03-01', '2026-03-02');
  await seed(other, '2026-03-01', '2026-03-02');
});
afterAll(() => t.close());

const get = (org: SignedUp, query: string, token = org.token) =>
  t.request({ method: 'GET', url: `/api/v1/orgs/${org.orgId}/stats${query}`, token });

describe('stats', () => {
  it('counts events per day and source and deliveries per state, with success rate and latency', async () => {
    const viewer = await addMember(t, owner, 'viewer');
    const res = await get(
      owner,
      '?from=2026-02-28T00:00:00.000Z&to=2026-03-02T23:59:59.999Z',
      viewer.token,
    );
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.perDay).toEqual([
      {
        date: '2026-02-28',
        events: 0,
        mail: 0,
        webhook: 0,
        api: 0,
        sent: 0,
        failed: 0,
        dead: 0,
        queued: 0,
      },
      {
        date: '2026-03-01',
        events: 2,
        mail: 1,
        webhook: 1,
        api: 0,
        sent: 2,
        failed: 0,
        dead: 0,
        queued: 0,
      },
      {
        date: '2026-03-02',
        events: 1,
        mail: 0,
        webhook: 1,
        api: 0,
        sent: 1,
        failed: 0,
        dead: 1,
        queued: 1,
      },
    ]);
    expect(body.events).toEqual({ total: 3, bySource: { mail: 1, webhook: 2, api: 0 } });
    expect(body.deliveries).toMatchObject({ sent: 3, failed: 0, dead: 1, queued: 1 });
    expect(body.deliveries.successRate).toBe(0.75);
    // Latencies 1 s, 3 s, 5 s: the median is 3 s; p95 interpolates towards 5 s.
    expect(body.deliveries.latencyMs.p50).toBe(3000);
    expect(body.deliveries.latencyMs.p95).toBe(4800);
  });

  it('answers an empty window with zeros and no rate, and refuses from after to', async () => {
    const empty = await get(owner, '?from=2025-01-01T00:00:00Z&to=2025-01-01T12:00:00Z');
    expect(empty.statusCode).toBe(200);
    expect(empty.json().perDay).toHaveLength(1);
    expect(empty.json().deliveries).toMatchObject({
      sent: 0,
      successRate: null,
      latencyMs: { p50: null, p95: null },
    });
    const backwards = await get(owner, '?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z');
    expect(backwards.statusCode).toBe(400);
    const bad = await get(owner, '?from=yesterday');
    expect(bad.statusCode).toBe(400);
    const tooLong = await get(owner, '?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z');
    expect(tooLong.statusCode).toBe(400);
  });
});
