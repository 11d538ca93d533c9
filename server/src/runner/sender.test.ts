import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, inArray } from 'drizzle-orm';
import { Api } from 'grammy';
import { createTestApp, type TestApp } from '../../test/app.js';
import { insertBot, insertChats, signup, type SignedUp } from '../../test/factories.js';
import { startFakeTelegram, type FakeTelegram } from '../../test/fake-telegram/server.js';
import { botChats, bots, chats, deliveries } from '../db/schema.js';
import { createRunnerApi } from './internal-api.js';
import { startDeliveryLoop } from './sender.js';

let t: TestApp;
let fake: FakeTelegram;
let owner: SignedUp;
const chatIds: string[] = [];
const tgChatIds: number[] = [];
let loop: { stop(): Promise<void> };
const runnerToken = 'npr_sender_test_token_0123456789';
const log = { warn: () => {}, error: () => {}, info: () => {} };

beforeAll(async () => {
  t = await createTestApp();
  fake = await startFakeTelegram({ port: 0 });
  owner = await signup(t);
  const tg = fake.addBot({});
  const bot = await insertBot(t, owner.orgId, { telegramId: tg.id, token: tg.token, runnerToken });
  for (let i = 0; i < 20; i++) {
    const user = fake.addUser({});
    const chat = fake.addChat({
      id: user.id,
      type: 'private',
      firstName: `u${i}`,
      botTokens: [tg.token],
    });
    tgChatIds.push(chat.id);
  }
  const rows = await insertChats(
    t,
    owner.orgId,
    tgChatIds.map((telegramChatId) => ({ telegramChatId, type: 'private' as const })),
    { botIds: [bot.id] },
  );
  chatIds.push(...rows.map((r) => r.id));
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  loop = startDeliveryLoop({
    internalApi: createRunnerApi(address.replace(/\/$/, ''), runnerToken),
    botApi: new Api(tg.token, { apiRoot: fake.apiRoot }),
    log,
  });
}, 30_000);
afterAll(async () => {
  await loop?.stop();
  await t.close();
  await fake.close();
});

const post = (payload: object) =>
  t.request({
    method: 'POST',
    url: `/api/v1/orgs/${owner.orgId}/notifications`,
    token: owner.token,
    payload,
  });
async function waitAllSent(timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const open = (await t.deps.db.select().from(deliveries)).filter(
      (d) => d.status !== 'sent' && d.status !== 'failed' && d.status !== 'dead',
    );
    if (!open.length || Date.now() > end) return open.length;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('sender', () => {
  it('delivers 200 notifications to 20 chats through one bot: all sent, per-chat order kept, zero 429, hostile HTML accepted as HTML', async () => {
    const hostile = [
      '<script>alert(1)</script> <b>unbalanced & 🙂 שלום مرحبا AT&T <c> ' + 'a'.repeat(200),
      '</i><b>x <i>y</b> &bogus; <a href="javascript:x">j</a> <!-- c --> 👨‍👩‍👧 \u202e',
      '**bold** <u>raw</u> `code & <tag>` [l](https://ex.com/?a=1&b=2) _x',
    ];
    const formats = ['text', 'html', 'markdown'] as const;
    for (let n = 0; n < 10; n++)
      for (let c = 0; c < 20; c++)
        expect(
          (
            await post({
              text: `n${n}c${c} ${hostile[(n + c) % 3]}`,
              format: formats[(n * 20 + c) % 3],
              chatIds: [chatIds[c]],
            })
          ).statusCode,
        ).toBe(202);
    expect(await waitAllSent(60_000)).toBe(0);
    const all = await t.deps.db.select().from(deliveries);
    expect(all).toHaveLength(200);
    expect(all.every((d) => d.status === 'sent' && d.telegramMessageIds?.length)).toBe(true);
    expect(fake.stats().tooManyRequests).toBe(0);
    const sent = fake.messages({ method: 'sendMessage' });
    expect(sent).toHaveLength(200);
    // Telegram took every one as HTML: no "can't parse entities", no plain-text fallback.
    expect(sent.every((m) => m.parse_mode === 'HTML')).toBe(true);
    expect(fake.calls({ method: 'sendMessage' }).filter((c) => c.status === 400)).toEqual([]);
    expect(sent.some((m) => m.plainText.includes('<script>alert(1)</script>'))).toBe(true);
    for (const [c, id] of tgChatIds.entries()) {
      const order = fake.messages({ chatId: id }).map((m) => m.plainText.split(' ')[0]);
      expect(order).toEqual(Array.from({ length: 10 }, (_, n) => `n${n}c${c}`));
    }
    const metrics = (await t.request({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/notifypro_deliveries_total\{status="queued"\} 200/);
    expect(metrics).toMatch(/notifypro_deliveries_total\{status="sent"\} 200/);
    expect(metrics).toMatch(/notifypro_send_latency_seconds_count 200/);
  }, 90_000);

  it('a 10,000-character hostile text in each format arrives split, every part as HTML, nothing lost', async () => {
    const chunk = '<b>x</b> & <script>s</script> 🙂 שלום \n';
    const long = `long ${chunk.repeat(Math.ceil(10_000 / chunk.length))}`.slice(0, 10_000);
    const before = fake.messages({ chatId: tgChatIds[19] }).length;
    for (const format of ['text', 'html', 'markdown'] as const)
      expect((await post({ text: long, format, chatIds: [chatIds[19]] })).statusCode).toBe(202);
    expect(await waitAllSent(30_000)).toBe(0);
    const parts = fake.messages({ chatId: tgChatIds[19] }).slice(before);
    // text: 10,000 visible characters in 3 parts; html and markdown lose the markup, 1 part each.
    expect(parts.map((m) => m.plainText.length > 0)).toHaveLength(5);
    expect(parts.every((m) => m.parse_mode === 'HTML' && m.plainText.length <= 4096)).toBe(true);
    const texts = parts.map((m) => m.plainText);
    const firstOfEach = texts.flatMap((t, i) => (t.startsWith('long') ? [i] : []));
    expect(firstOfEach).toHaveLength(3);
    const plain = texts.slice(0, firstOfEach[1]).join('').replace(/\s+/g, '');
    expect(plain).toBe(long.replace(/\s+/g, ''));
  }, 60_000);

  it('a forced 429 pauses the bot, loses nothing, and is counted', async () => {
    fake.failNext({ method: 'sendMessage', fault: { type: 'http', status: 429, retryAfter: 1 } });
    for (let c = 0; c < 5; c++) await post({ text: `after429 ${c}`, chatIds: [chatIds[c]] });
    expect(await waitAllSent(20_000)).toBe(0);
    const rows = await t.deps.db.select().from(deliveries).where(eq(deliveries.status, 'sent'));
    expect(rows.length).toBe(208);
    const metrics = (await t.request({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/notifypro_telegram_429_total 1\b/);
  }, 30_000);
  it('kicked → failed and link inactive; 5xx → retried and sent; dropped after accept → unknown, one more attempt', async () => {
    fake.failNext({
      chatId: tgChatIds[5],
      fault: {
        type: 'http',
        status: 403,
        description: 'Forbidden: bot was kicked from the group chat',
      },
    });
    fake.failNext({ chatId: tgChatIds[6], fault: { type: 'http', status: 502 } });
    fake.failNext({ chatId: tgChatIds[7], fault: { type: 'drop-after-accept' } });
    const ids: Record<number, string> = {};
    for (const c of [5, 6, 7])
      ids[c] = (await post({ text: `fault ${c}`, chatIds: [chatIds[c]] })).json().deliveries[0].id;
    expect(await waitAllSent(20_000)).toBe(0);
    const get = async (c: number) =>
      (await t.deps.db.select().from(deliveries).where(eq(deliveries.id, ids[c]!)))[0]!;
    expect((await get(5)).status).toBe('failed');
    const link = await t.deps.db.select().from(botChats).where(eq(botChats.chatId, chatIds[5]!));
    expect(link[0]!.status).toBe('inactive');
    expect((await get(6)).status).toBe('sent');
    expect((await get(6)).attempts).toBe(2);
    const dropped = await get(7);
    expect(dropped.status).toBe('sent');
    expect(dropped.attempts).toBe(2);
  }, 30_000);
  it('a group upgraded to a supergroup: chat id followed, resent there', async () => {
    const [bot] = await t.deps.db.select().from(bots);
    const token = fake.listBots()[0]!.token;
    const group = fake.addChat({ type: 'group', title: 'g', botTokens: [token] });
    const [row] = await insertChats(t, owner.orgId, [{ telegramChatId: group.id }], {
      botIds: [bot!.id],
    });
    const newId = fake.migrateGroupToSupergroup({ chatId: group.id });
    const id = (await post({ text: 'to the group', chatIds: [row!.id] })).json().deliveries[0].id;
    expect(await waitAllSent(20_000)).toBe(0);
    expect(
      (await t.deps.db.select().from(deliveries).where(eq(deliveries.id, id)))[0]!.status,
    ).toBe('sent');
    expect(
      (await t.deps.db.select().from(chats).where(eq(chats.id, row!.id)))[0]!.telegramChatId,
    ).toBe(newId);
    expect(fake.messages({ chatId: newId }).map((m) => m.plainText)).toEqual(['to the group']);
  }, 30_000);

  it('per-chat order survives a 5xx and an unknown outcome mid-sequence: later messages wait', async () => {
    const [c5xx, cDrop] = [10, 11];
    const first = async (c: number) => {
      await post({ text: `s1 to ${c}`, chatIds: [chatIds[c]] });
    };
    await first(c5xx);
    await first(cDrop);
    expect(await waitAllSent(20_000)).toBe(0);
    fake.failNext({ chatId: tgChatIds[c5xx], fault: { type: 'http', status: 502 } });
    fake.failNext({ chatId: tgChatIds[cDrop], fault: { type: 'drop-after-accept' } });
    const ids: string[] = [];
    for (let n = 2; n <= 6; n++)
      for (const c of [c5xx, cDrop])
        ids.push(
          (await post({ text: `s${n} to ${c}`, chatIds: [chatIds[c]] })).json().deliveries[0].id,
        );
    expect(await waitAllSent(30_000)).toBe(0);
    const order = (c: number) =>
      fake
        .messages({ chatId: tgChatIds[c] })
        .flatMap((m) => (m.plainText.startsWith('s') ? [m.plainText.split(' ')[0]] : []));
    // The 502 was refused and retried before s3; the dropped one was sent, then (outcome
    // unknown) sent once more — still before s3.
    expect(order(c5xx)).toEqual(['s1', 's2', 's3', 's4', 's5', 's6']);
    expect(order(cDrop)).toEqual(['s1', 's2', 's2', 's3', 's4', 's5', 's6']);
    const rows = await t.deps.db.select().from(deliveries).where(inArray(deliveries.id, ids));
    expect(rows.every((d) => d.status === 'sent')).toBe(true);
    expect(rows.filter((d) => d.attempts === 2)).toHaveLength(2);
    const metrics = (await t.request({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/notifypro_delivery_retries_total\{reason="error"\} [2-9]/);
    expect(metrics).toMatch(/notifypro_delivery_retries_total\{reason="unknown"\} [2-9]/);
  }, 60_000);
});
