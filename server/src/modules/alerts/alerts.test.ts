import { and, eq, like, sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { startDeliveryKit, type DeliveryKit } from '../../../test/delivery-kit.js';
import { insertBot, linkBotChats, signup, type SignedUp } from '../../../test/factories.js';
import {
  alerts,
  botChats,
  bots,
  deliveries,
  logs,
  mailboxes,
  notifications,
} from '../../db/schema.js';
import { createLogger } from '../../logger.js';
import { enqueueNotification } from '../notifications/service.js';
import {
  HOUSEKEEPING_LOCK_KEY,
  startHousekeeping,
  type HousekeepingHandle,
} from '../../worker/housekeeping.js';

let t: TestApp;
let owner: SignedUp;
let kit: DeliveryKit;
let housekeeping: HousekeepingHandle;
let alertChat: string;
let telegramChat: number;

beforeAll(async () => {
  t = await createTestApp();
  owner = await signup(t);
  kit = await startDeliveryKit(t, owner.orgId, { chats: 1 });
  alertChat = kit.chatIds[0]!;
  telegramChat = kit.telegramChatIds[0]!;
  housekeeping = startHousekeeping({
    db: t.deps.db,
    config: t.config,
    log: createLogger('silent'),
    loop: false,
  });
});
afterAll(async () => {
  await housekeeping?.stop();
  await kit?.close();
  await t?.close();
});
beforeEach(async () => {
  // every test starts from a healthy org with no alerts
  await t.deps.db.delete(alerts);
  await t.deps.db.delete(bots).where(sql`${bots.id} <> ${kit.botId}`);
  await t.deps.db.delete(mailboxes);
  await t.deps.db.delete(notifications);
  await settings({ alertChatId: alertChat, alertAfterMinutes: 10, alertReminderHours: 0 });
});

async function settings(s: Record<string, unknown>) {
  const res = await t.request({
    method: 'PATCH',
    url: `/api/v1/orgs/${owner.orgId}`,
    token: owner.token,
    payload: { settings: s },
  });
  expect(res.statusCode, res.body).toBe(200);
}

/** One housekeeping round, with the kit's bot heartbeating as its runner would. */
async function round() {
  await t.deps.db.update(bots).set({ lastHeartbeatAt: new Date() }).where(eq(bots.id, kit.botId));
  const r = await housekeeping.runOnce({ force: true });
  expect(r.skipped).toBe(false);
  return r.jobs.alerts!;
}

const backdate = (minutes: number) =>
  t.deps.db
    .update(alerts)
    .set({ openedAt: sql`now() - make_interval(mins => ${minutes})` })
    .where(sql`resolved_at is null`);

async function listAlerts(status: 'open' | 'resolved' = 'open') {
  const res = await t.request({
    method: 'GET',
    url: `/api/v1/orgs/${owner.orgId}/alerts?status=${status}`,
    token: owner.token,
  });
  expect(res.statusCode).toBe(200);
  return res.json() as { items: Array<Record<string, unknown>>; total: number };
}

/** The alert messages queued, their stored Telegram HTML read back as text. */
const alertNotifications = async () =>
  (
    await t.deps.db
      .select({ id: notifications.id, text: notifications.text, botId: deliveries.botId })
      .from(notifications)
      .innerJoin(deliveries, eq(deliveries.notificationId, notifications.id))
      .where(
        and(eq(notifications.orgId, owner.orgId), like(notifications.idempotencyKey, 'alert:%')),
      )
      .orderBy(notifications.createdAt)
  ).map((n) => ({
    ...n,
    text: n.text
      .replaceAll('&quot;', '"')
      .replaceAll('&lt;', '<')
      .replaceAll('&gt;', '>')
      .replaceAll('&amp;', '&'),
  }));

async function telegramTexts(n: number) {
  const messages = await kit.fake.waitForMessages(n, { chatId: telegramChat });
  return messages.map((m) => m.plainText);
}

async function brokenBot(linkedToAlertChat = true) {
  const bot = await insertBot(t, owner.orgId, {
    name: 'Shop bot',
    status: 'error',
    lastError: 'Telegram refused the token (401 Unauthorized)',
  });
  if (linkedToAlertChat) await linkBotChats(t, owner.orgId, bot.id, [alertChat]);
  return bot;
}

describe('alerts', () => {
  it('a bot in error: pending below the threshold, fires once through another bot, resolves once', async () => {
    const before = kit.fake.messages({ chatId: telegramChat }).length;
    const bot = await brokenBot();
    expect(await round()).toMatchObject({ opened: 1, fired: 0 });
    expect((await listAlerts()).total).toBe(0); // not over the threshold yet
    expect(await alertNotifications()).toHaveLength(0);

    await backdate(11);
    expect(await round()).toMatchObject({ opened: 0, fired: 1 });
    const open = await listAlerts();
    expect(open.items).toEqual([
      expect.objectContaining({
        kind: 'bot',
        subjectId: bot.id,
        subjectName: 'Shop bot',
        detail: 'Telegram refused the token (401 Unauthorized)',
        resolvedAt: null,
      }),
    ]);
    expect(open.items[0]!.lastNotifiedAt).toEqual(open.items[0]!.firedAt);
    const sent = await alertNotifications();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.botId).toBe(kit.botId); // not through the failing bot itself
    const texts = await telegramTexts(before + 1);
    expect(texts.at(-1)).toBe(
      '⚠️ NotifyPro: Bot "Shop bot" — failing: Telegram refused the token (401 Unauthorized)',
    );
    const metrics = (await t.request({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/notifypro_alerts_open\{kind="bot"\} 1/);

    // still failing: no repeats
    expect(await round()).toMatchObject({ opened: 0, fired: 0, reminded: 0, resolved: 0 });
    expect(await round()).toMatchObject({ fired: 0, resolved: 0 });
    expect(await alertNotifications()).toHaveLength(1);

    await t.deps.db
      .update(bots)
      .set({ status: 'running', lastError: null, lastHeartbeatAt: new Date() })
      .where(eq(bots.id, bot.id));
    expect(await round()).toMatchObject({ resolved: 1 });
    expect(await round()).toMatchObject({ opened: 0, fired: 0, resolved: 0 });
    expect((await listAlerts()).total).toBe(0);
    const resolved = await listAlerts('resolved');
    expect(resolved.items).toEqual([
      expect.objectContaining({ kind: 'bot', subjectId: bot.id, resolvedAt: expect.any(String) }),
    ]);
    expect(await alertNotifications()).toHaveLength(2);
    expect((await telegramTexts(before + 2)).at(-1)).toMatch(
      /^✅ NotifyPro: Bot "Shop bot" — working again \(failed for 1\d min\)\.$/,
    );
    const rows = await t.deps.db
      .select()
      .from(logs)
      .where(and(eq(logs.orgId, owner.orgId), eq(logs.source, 'alerts')))
      .orderBy(logs.id);
    expect(rows.map((r) => [r.level, r.context.phase, r.context.notified])).toEqual([
      ['warn', 'fired', true],
      ['info', 'resolved', true],
    ]);
  });

  it('a runner silent past RUNNER_STALE_SECONDS counts as failing', async () => {
    const silent = await insertBot(t, owner.orgId, {
      name: 'Quiet bot',
      lastHeartbeatAt: new Date(Date.now() - (t.config.runnerStaleSeconds + 60) * 1000),
    });
    expect(await round()).toMatchObject({ opened: 1 });
    const [row] = await t.deps.db.select().from(alerts).where(eq(alerts.subjectId, silent.id));
    expect(row!.detail).toMatch(/^no heartbeat since /);
  });

  it('a mailbox error that clears before the threshold leaves nothing; one that lasts fires', async () => {
    const [mb] = await t.deps.db
      .insert(mailboxes)
      .values({
        orgId: owner.orgId,
        name: 'Support inbox',
        protocol: 'imap',
        host: 'mail.example.com',
        port: 993,
        security: 'tls',
        username: 'u',
        secretEncrypted: t.deps.secrets.encrypt('pw'),
        status: 'error',
        lastError: 'Login failed: AUTHENTICATIONFAILED',
      })
      .returning();
    expect(await round()).toMatchObject({ opened: 1, fired: 0 });
    await t.deps.db.update(mailboxes).set({ status: 'ok' }).where(eq(mailboxes.id, mb!.id));
    expect(await round()).toMatchObject({ resolved: 0 });
    expect(await t.deps.db.select().from(alerts)).toHaveLength(0);
    expect(await alertNotifications()).toHaveLength(0);

    await t.deps.db.update(mailboxes).set({ status: 'error' }).where(eq(mailboxes.id, mb!.id));
    await round();
    await backdate(10);
    expect(await round()).toMatchObject({ fired: 1 });
    const [n] = await alertNotifications();
    expect(n!.text).toBe(
      '⚠️ NotifyPro: Mailbox "Support inbox" — failing: Login failed: AUTHENTICATIONFAILED',
    );
  });

  it('dead deliveries fire at once and resolve after a quiet threshold; in Russian for a Russian org', async () => {
    await settings({ language: 'ru' });
    const broken = await brokenBot(false);
    const queued = await t.deps.db.transaction((tx) =>
      enqueueNotification(tx, owner.orgId, {
        source: 'api',
        text: 'lost',
        format: 'text',
        targets: [{ chatId: alertChat, botId: broken.id }],
      }),
    );
    // the bot is not the subject here: only deliveries
    await t.deps.db
      .update(bots)
      .set({ status: 'stopped', enabled: false })
      .where(eq(bots.id, broken.id));
    await t.deps.db
      .update(deliveries)
      .set({ status: 'dead', attempts: 8, lastError: 'Bad Gateway', updatedAt: new Date() })
      .where(eq(deliveries.id, queued.deliveries[0]!.id));
    expect(await round()).toMatchObject({ opened: 1, fired: 1 });
    const [n] = await alertNotifications();
    expect(n!.text).toBe('⚠️ NotifyPro: Доставка сообщений — сбой (1 с ошибкой): Bad Gateway');
    expect(await round()).toMatchObject({ fired: 0, resolved: 0 });

    await t.deps.db
      .update(deliveries)
      .set({ updatedAt: sql`now() - interval '11 minutes'` })
      .where(eq(deliveries.id, queued.deliveries[0]!.id));
    expect(await round()).toMatchObject({ resolved: 1 });
    const texts = (await alertNotifications()).map((x) => x.text);
    expect(texts[1]).toMatch(/^✅ NotifyPro: Доставка сообщений — снова в порядке/);
    await settings({ language: 'en' });
  });

  it('reminds while open after alertReminderHours, once per period', async () => {
    await settings({ alertReminderHours: 2 });
    await brokenBot();
    await round();
    await backdate(11);
    expect(await round()).toMatchObject({ fired: 1 });
    expect(await round()).toMatchObject({ reminded: 0 });
    await t.deps.db
      .update(alerts)
      .set({
        openedAt: sql`now() - interval '3 hours'`,
        lastNotifiedAt: sql`now() - interval '2 hours 1 minute'`,
      })
      .where(sql`resolved_at is null`);
    expect(await round()).toMatchObject({ reminded: 1 });
    expect(await round()).toMatchObject({ reminded: 0 });
    const texts = (await alertNotifications()).map((x) => x.text);
    expect(texts).toHaveLength(2);
    expect(texts[1]).toMatch(/^⏰ NotifyPro: Bot "Shop bot" — still failing after 3 h: /);
  });

  it('with no other working bot on the alert chat it still fires (UI, log) without a message', async () => {
    await t.deps.db
      .update(botChats)
      .set({ status: 'inactive' })
      .where(eq(botChats.botId, kit.botId));
    try {
      await brokenBot();
      await round();
      await backdate(11);
      expect(await round()).toMatchObject({ fired: 1 });
      expect(await alertNotifications()).toHaveLength(0);
      const [a] = (await listAlerts()).items;
      expect(a).toMatchObject({ kind: 'bot', lastNotifiedAt: null });
      const [row] = await t.deps.db
        .select()
        .from(logs)
        .where(and(eq(logs.orgId, owner.orgId), eq(logs.source, 'alerts')))
        .orderBy(sql`${logs.id} desc`)
        .limit(1);
      expect(row!.message).toContain('no working bot could tell the alert chat');
      expect(row!.context.notified).toBe(false);
    } finally {
      await t.deps.db
        .update(botChats)
        .set({ status: 'active' })
        .where(eq(botChats.botId, kit.botId));
    }
  });

  it('the housekeeping loop runs rounds by itself on its interval', async () => {
    const looping = startHousekeeping({
      db: t.deps.db,
      config: t.config,
      log: createLogger('silent'),
      intervalMs: 100,
    });
    try {
      await t.deps.db
        .update(bots)
        .set({ lastHeartbeatAt: new Date() })
        .where(eq(bots.id, kit.botId));
      const bot = await brokenBot();
      const end = Date.now() + 10_000;
      while (!(await t.deps.db.select().from(alerts).where(eq(alerts.subjectId, bot.id))).length) {
        if (Date.now() > end) throw new Error('no round ran');
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await looping.stop();
    }
  });

  it('one replica at a time: a round is skipped while another holds the lock', async () => {
    const other = new pg.Client({ connectionString: t.database.url });
    await other.connect();
    try {
      await other.query('select pg_advisory_lock($1)', [HOUSEKEEPING_LOCK_KEY]);
      expect(await housekeeping.runOnce({ force: true })).toEqual({ skipped: true, jobs: {} });
      await other.query('select pg_advisory_unlock($1)', [HOUSEKEEPING_LOCK_KEY]);
      expect((await housekeeping.runOnce({ force: true })).skipped).toBe(false);
    } finally {
      await other.end();
    }
  });

  it('the alert chat must be a chat of the organization; the threshold is bounded', async () => {
    for (const s of [
      { alertChatId: '00000000-0000-4000-8000-000000000000' },
      { alertChatId: 'not-a-uuid' },
      { alertAfterMinutes: 0 },
      { alertReminderHours: -1 },
    ]) {
      const res = await t.request({
        method: 'PATCH',
        url: `/api/v1/orgs/${owner.orgId}`,
        token: owner.token,
        payload: { settings: s },
      });
      expect(res.statusCode, JSON.stringify(s)).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    await settings({ alertChatId: null });
  });
});
