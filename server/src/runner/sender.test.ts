import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { Api } from 'grammy';
import { createTestApp, type TestApp } from '../../test/app.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { startFakeTelegram, type FakeTelegram } from '../../test/fake-telegram/server.js';
import { hashToken } from '../crypto/secrets.js';
import { botChats, bots, chats, deliveries } from '../db/schema.js';
import { createInternalApiClient, startDeliveryLoop } from './sender.js';

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
  const [bot] = await t.deps.db
    .insert(bots)
    .values({
      orgId: owner.orgId,
      name: 'b',
      telegramId: tg.id,
      tokenEncrypted: t.deps.secrets.encrypt(tg.token),
      tokenHint: 'x',
      status: 'running',
      runnerTokenHash: hashToken(runnerToken),
    })
    .returning();
  for (let i = 0; i < 20; i++) {
    const user = fake.addUser({});
    const chat = fake.addChat({
      id: user.id,
      type: 'private',
      firstName: `u${i}`,
      botTokens: [tg.token],
    });
    tgChatIds.push(chat.id);
    const [row] = await t.deps.db
      .insert(chats)
      .values({ orgId: owner.orgId, telegramChatId: chat.id, type: 'private' })
      .returning();
    chatIds.push(row!.id);
    await t.deps.db
      .insert(botChats)
      .values({ orgId: owner.orgId, botId: bot!.id, chatId: row!.id });
  }
  const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
  loop = startDeliveryLoop({
    internalApi: createInternalApiClient(address, runnerToken),
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
  it('delivers 60 notifications to 20 chats in per-chat order, zero 429, hostile text accepted', async () => {
    const hostile = '<script>x</script> <b>unbalanced & 🙂 שלום ' + 'a'.repeat(200);
    for (let n = 0; n < 3; n++)
      for (let c = 0; c < 20; c++)
        expect(
          (await post({ text: `${n}:${c} ${hostile}`, chatIds: [chatIds[c]] })).statusCode,
        ).toBe(202);
    expect(await waitAllSent(20_000)).toBe(0);
    const all = await t.deps.db.select().from(deliveries);
    expect(all.every((d) => d.status === 'sent' && d.telegramMessageIds?.length)).toBe(true);
    expect(fake.stats().tooManyRequests).toBe(0);
    for (const id of tgChatIds) {
      const texts = fake.messages({ chatId: id }).map((m) => m.plainText.split(' ')[0]);
      expect(texts.map((s) => s!.split(':')[0])).toEqual(['0', '1', '2']);
    }
  }, 30_000);

  it('a forced 429 pauses the bot and loses nothing', async () => {
    fake.failNext({ method: 'sendMessage', fault: { type: 'http', status: 429, retryAfter: 1 } });
    for (let c = 0; c < 5; c++) await post({ text: `after429 ${c}`, chatIds: [chatIds[c]] });
    expect(await waitAllSent(20_000)).toBe(0);
    const rows = await t.deps.db.select().from(deliveries).where(eq(deliveries.status, 'sent'));
    expect(rows.length).toBe(65);
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
    const [row] = await t.deps.db
      .insert(chats)
      .values({ orgId: owner.orgId, telegramChatId: group.id, type: 'group' })
      .returning();
    await t.deps.db
      .insert(botChats)
      .values({ orgId: owner.orgId, botId: bot!.id, chatId: row!.id });
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
});
