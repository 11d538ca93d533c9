import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { insertBot, insertChats, signup, type SignedUp } from '../../test/factories.js';
import {
  alerts,
  attachments,
  auditLog,
  deliveries,
  events,
  logs,
  notifications,
  telegramUpdates,
  type DeliveryStatus,
} from '../db/schema.js';
import { createLogger } from '../logger.js';
import { startHousekeeping } from './housekeeping.js';
import { applyRetention } from './retention.js';

let t: TestApp;
let owner: SignedUp;
let other: SignedUp;
let botId: string;
let chatId: string;

const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000);

beforeAll(async () => {
  // batches of 2: every kind below needs several statements
  t = await createTestApp({ RETENTION_BATCH_SIZE: '2' });
  owner = await signup(t);
  other = await signup(t);
  botId = (await insertBot(t, owner.orgId)).id;
  chatId = (await insertChats(t, owner.orgId, [{ type: 'private' }], { botIds: [botId] }))[0]!.id;
});
afterAll(() => t?.close());

async function event(orgId: string, age: number) {
  const [row] = await t.deps.db
    .insert(events)
    .values({
      orgId,
      source: 'mail',
      subject: `mail ${age} days old`,
      raw: Buffer.from(`Subject: mail ${age} days old\r\n\r\nbody`),
      receivedAt: daysAgo(age),
      createdAt: daysAgo(age),
    })
    .returning();
  return row!.id;
}

async function notification(age: number, statuses: DeliveryStatus[], eventId?: string) {
  const [n] = await t.deps.db
    .insert(notifications)
    .values({
      orgId: owner.orgId,
      eventId: eventId ?? null,
      source: 'api',
      text: `n ${age}`,
      createdAt: daysAgo(age),
    })
    .returning();
  await t.deps.db.insert(attachments).values({
    orgId: owner.orgId,
    notificationId: n!.id,
    filename: 'a.txt',
    contentType: 'text/plain',
    size: 1,
    content: Buffer.from('a'),
  });
  const ds = await t.deps.db
    .insert(deliveries)
    .values(
      statuses.map((status) => ({
        orgId: owner.orgId,
        notificationId: n!.id,
        chatId,
        botId,
        status,
        createdAt: daysAgo(age),
        updatedAt: daysAgo(age),
      })),
    )
    .returning();
  return { id: n!.id, deliveryIds: ds.map((d) => d.id) };
}

const count = async (table: string, where = sql`true`) =>
  Number(
    (
      (
        await t.deps.db.execute(
          sql`select count(*)::int as n from ${sql.raw(table)} where ${where}`,
        )
      ).rows[0] as { n: number }
    ).n,
  );

describe('retention', () => {
  it('deletes only what is older than its days, in batches, and keeps what is still open', async () => {
    // events: 3 past EVENT_RETENTION_DAYS (90), 3 past RAW_MAIL_RETENTION_DAYS (30) only, 2 new
    const oldEvents = [
      await event(owner.orgId, 100),
      await event(owner.orgId, 95),
      await event(other.orgId, 91),
    ];
    const midEvents = [
      await event(owner.orgId, 40),
      await event(owner.orgId, 35),
      await event(other.orgId, 31),
    ];
    const newEvents = [await event(owner.orgId, 1), await event(other.orgId, 0)];

    // notifications and deliveries (90 days): finished old ones go, open ones stay with their notification
    const finished = [
      await notification(100, ['sent', 'dead'], oldEvents[0]),
      await notification(95, ['failed']),
      await notification(92, ['sent', 'sent', 'sent']),
    ];
    const open = await notification(120, ['sent', 'queued']);
    const sending = await notification(120, ['sending']);
    const recent = await notification(2, ['sent', 'dead'], newEvents[0]);

    // logs (30 days): the org's and the system's (no org)
    for (const [orgId, age] of [
      [owner.orgId, 40],
      [owner.orgId, 31],
      [other.orgId, 60],
      [null, 45],
      [null, 33],
      [owner.orgId, 5],
      [null, 1],
    ] as const)
      await t.deps.db.insert(logs).values({
        orgId,
        level: 'info',
        source: 'test',
        message: `log ${age}`,
        createdAt: daysAgo(age),
      });

    // more old rows at one instant than a batch holds: the next batch starts at that instant again
    const instant = daysAgo(50);
    await t.deps.db.insert(logs).values(
      [1, 2, 3, 4, 5].map((i) => ({
        orgId: owner.orgId,
        level: 'info' as const,
        source: 'test',
        message: `same instant ${i}`,
        createdAt: instant,
      })),
    );

    // audit log: AUDIT_LOG_RETENTION_DAYS is 0 by default (kept forever)
    await t.deps.db.insert(auditLog).values(
      [400, 200, 1].map((age) => ({
        orgId: owner.orgId,
        actorType: 'system' as const,
        action: 'test',
        targetType: 'test',
        createdAt: daysAgo(age),
      })),
    );

    // telegram updates (7 days): processed old ones only
    await t.deps.db.insert(telegramUpdates).values([
      { botId, updateId: 1, payload: {}, receivedAt: daysAgo(20), processedAt: daysAgo(20) },
      { botId, updateId: 2, payload: {}, receivedAt: daysAgo(10), processedAt: daysAgo(10) },
      { botId, updateId: 3, payload: {}, receivedAt: daysAgo(9), processedAt: daysAgo(8) },
      { botId, updateId: 4, payload: {}, receivedAt: daysAgo(20), processedAt: null },
      { botId, updateId: 5, payload: {}, receivedAt: daysAgo(1), processedAt: daysAgo(1) },
      // past 9: keys compared as numbers, not as text
      { botId, updateId: 10, payload: {}, receivedAt: daysAgo(9), processedAt: daysAgo(9) },
      { botId, updateId: 11, payload: {}, receivedAt: daysAgo(9), processedAt: daysAgo(9) },
    ]);

    // alerts (90 days): resolved long ago go, an old open one stays
    const alertValues = (resolvedAge: number | null) => ({
      orgId: owner.orgId,
      kind: 'bot' as const,
      subjectId: botId,
      openedAt: daysAgo(200),
      firedAt: daysAgo(200),
      resolvedAt: resolvedAge === null ? null : daysAgo(resolvedAge),
    });
    await t.deps.db
      .insert(alerts)
      .values([alertValues(150), alertValues(100), alertValues(10), alertValues(null)]);

    const figures = await applyRetention(t.deps.db, t.config.retention);
    expect(figures).toEqual({
      deliveries: 7, // 2 + 1 + 3 finished, 1 sent beside an open one
      notifications: 3,
      events: 3,
      rawMail: 3,
      logs: 10,
      alerts: 2,
      telegramUpdates: 5,
    });

    expect(await count('events', sql`id in ${oldEvents}`)).toBe(0);
    const kept = await t.deps.db
      .select({ id: events.id, raw: events.raw })
      .from(events)
      .where(inArray(events.id, [...midEvents, ...newEvents]));
    expect(kept).toHaveLength(5);
    for (const e of kept) expect(e.raw === null, e.id).toBe(midEvents.includes(e.id));

    const finishedIds = finished.map((n) => n.id);
    expect(await count('notifications', sql`id in ${finishedIds}`)).toBe(0);
    expect(await count('attachments', sql`notification_id in ${finishedIds}`)).toBe(0);
    expect(
      (
        await t.deps.db
          .select({ id: deliveries.id, status: deliveries.status })
          .from(deliveries)
          .where(inArray(deliveries.notificationId, [open.id, sending.id]))
      )
        .map((d) => d.status)
        .sort(),
    ).toEqual(['queued', 'sending']);
    expect(await count('notifications', sql`id in ${[open.id, sending.id, recent.id]}`)).toBe(3);
    expect(
      await count('attachments', sql`notification_id in ${[open.id, sending.id, recent.id]}`),
    ).toBe(3);
    expect(await count('deliveries', sql`notification_id = ${recent.id}`)).toBe(2);

    expect((await t.deps.db.select({ m: logs.message }).from(logs)).map((l) => l.m).sort()).toEqual(
      expect.arrayContaining(['log 1', 'log 5']),
    );
    expect(
      await count('logs', sql`message in ('log 40', 'log 31', 'log 60', 'log 45', 'log 33')`),
    ).toBe(0);
    expect(await count('logs', isNull(logs.orgId))).toBeGreaterThanOrEqual(1);

    expect(await count('audit_log', sql`action = 'test'`)).toBe(3);
    expect(
      (await t.deps.db.select({ u: telegramUpdates.updateId }).from(telegramUpdates))
        .map((u) => u.u)
        .sort(),
    ).toEqual([4, 5]);
    expect(
      (await t.deps.db.select({ r: alerts.resolvedAt }).from(alerts))
        .map((a) => a.r === null)
        .sort(),
    ).toEqual([false, true]);

    // nothing left to do: a second pass touches nothing
    expect(Object.values(await applyRetention(t.deps.db, t.config.retention))).toEqual([
      0, 0, 0, 0, 0, 0, 0,
    ]);
  });

  it('0 days keeps a kind forever; a set period removes it (audit log)', async () => {
    await applyRetention(t.deps.db, { ...t.config.retention, auditLogDays: 0 });
    expect(await count('audit_log', sql`action = 'test'`)).toBe(3);
    const figures = await applyRetention(t.deps.db, {
      ...t.config.retention,
      auditLogDays: 300,
      eventDays: 0,
      rawMailDays: 0,
      deliveryDays: 0,
      notificationDays: 0,
      logDays: 0,
      telegramUpdateDays: 0,
      alertDays: 0,
    });
    expect(figures).toEqual({ auditLog: 1 });
    expect(await count('audit_log', sql`action = 'test'`)).toBe(2);
  });

  it('runs hourly as the housekeeping retention job', async () => {
    const stale = await event(owner.orgId, 365);
    const hk = startHousekeeping({
      db: t.deps.db,
      config: t.config,
      log: createLogger('silent'),
      loop: false,
    });
    try {
      const first = await hk.runOnce();
      expect(first.jobs.retention).toMatchObject({ events: 1 });
      expect(await count('events', eq(events.id, stale))).toBe(0);
      await event(owner.orgId, 365);
      // within the hour only the alerts job runs again
      const second = await hk.runOnce();
      expect(Object.keys(second.jobs)).toEqual(['alerts']);
      expect(
        await count(
          'events',
          and(eq(events.orgId, owner.orgId), sql`created_at < now() - interval '300 days'`),
        ),
      ).toBe(1);
    } finally {
      await hk.stop();
    }
  });
});
