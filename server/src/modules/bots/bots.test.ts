import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { signup, type SignedUp } from '../../../test/factories.js';
import { startFakeTelegram, type FakeTelegram } from '../../../test/fake-telegram/server.js';
import { bots } from '../../db/schema.js';

let t: TestApp;
let fake: FakeTelegram;
let owner: SignedUp;
let other: SignedUp;

beforeAll(async () => {
  fake = await startFakeTelegram({ port: 0 });
  t = await createTestApp({
    TELEGRAM_API_ROOT: fake.apiRoot,
    PUBLIC_URL: 'https://notify.example.com',
  });
  owner = await signup(t);
  other = await signup(t);
});
afterAll(async () => {
  await t.close();
  await fake.close();
});

const base = (o: SignedUp) => `/api/v1/orgs/${o.orgId}`;
const createBot = (o: SignedUp, payload: object) =>
  t.request({ method: 'POST', url: `${base(o)}/bots`, token: o.token, payload });

describe('bots API', () => {
  it('registers a bot whose token getMe accepts, stores the token encrypted and shows only a hint', async () => {
    const tg = fake.addBot({ username: 'hotel_alerts_bot' });
    const res = await createBot(owner, { name: 'Front desk', token: tg.token });
    expect(res.statusCode).toBe(201);
    const bot = res.json();
    expect(bot).toMatchObject({
      name: 'Front desk',
      username: 'hotel_alerts_bot',
      telegramId: tg.id,
      mode: 'polling',
      status: 'starting',
      enabled: true,
      tokenHint: `…${tg.token.slice(-4)}`,
    });
    expect(JSON.stringify(bot)).not.toContain(tg.token);
    const [row] = await t.deps.db.select().from(bots).where(eq(bots.id, bot.id));
    expect(row!.tokenEncrypted).not.toContain(tg.token.split(':')[1]);
    expect(t.deps.secrets.decrypt(row!.tokenEncrypted)).toBe(tg.token);
    const list = await t.request({ method: 'GET', url: `${base(owner)}/bots`, token: owner.token });
    expect(list.json().items.map((b: { id: string }) => b.id)).toContain(bot.id);
    expect(list.body).not.toContain(tg.token);
    const audit = await t.request({
      method: 'GET',
      url: `${base(owner)}/audit-log`,
      token: owner.token,
    });
    expect(audit.body).toContain('bot.create');
    expect(audit.body).not.toContain(tg.token);
  });

  it('refuses a token Telegram rejects with 400 and Telegram’s description', async () => {
    const tg = fake.addBot({});
    fake.revokeToken(tg.token);
    const res = await createBot(owner, { name: 'x', token: tg.token });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().detail).toContain('Unauthorized');
  });

  it('refuses a malformed token, an unknown field type, and the same bot twice', async () => {
    expect((await createBot(owner, { name: 'x', token: 'not-a-token' })).statusCode).toBe(400);
    expect((await createBot(owner, { name: 42, token: 7 })).statusCode).toBe(400);
    const tg = fake.addBot({});
    expect((await createBot(owner, { name: 'a', token: tg.token })).statusCode).toBe(201);
    const again = await createBot(other, { name: 'b', token: tg.token });
    expect(again.statusCode).toBe(409);
  });

  it('switches to webhook mode with a secret, back to polling, and replaces the token', async () => {
    const tg = fake.addBot({});
    const bot = (await createBot(owner, { name: 'w', token: tg.token })).json();
    const url = `${base(owner)}/bots/${bot.id}`;
    const toWebhook = await t.request({
      method: 'PATCH',
      url,
      token: owner.token,
      payload: { mode: 'webhook' },
    });
    expect(toWebhook.statusCode).toBe(200);
    expect(toWebhook.json().mode).toBe('webhook');
    const info = (await fetch(`${fake.apiRoot}/bot${tg.token}/getWebhookInfo`).then((r) =>
      r.json(),
    )) as { result: { url: string } };
    expect(info.result.url).toBe(`https://notify.example.com/telegram/webhook/${bot.id}`);
    const [row] = await t.deps.db.select().from(bots).where(eq(bots.id, bot.id));
    expect(row!.webhookSecret).toMatch(/^[0-9a-f]{64}$/);
    expect(row!.revision).toBe(1);

    await t.request({ method: 'PATCH', url, token: owner.token, payload: { mode: 'polling' } });
    const after = (await fetch(`${fake.apiRoot}/bot${tg.token}/getWebhookInfo`).then((r) =>
      r.json(),
    )) as { result: { url: string } };
    expect(after.result.url).toBe('');

    const stranger = fake.addBot({});
    const wrong = await t.request({
      method: 'PATCH',
      url,
      token: owner.token,
      payload: { token: stranger.token },
    });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().detail).toContain('another Telegram bot');

    const renamed = await t.request({
      method: 'PATCH',
      url,
      token: owner.token,
      payload: { name: 'Night desk' },
    });
    expect(renamed.json()).toMatchObject({ name: 'Night desk', mode: 'polling' });
  });

  it('stop, start and restart set what the supervisor acts on', async () => {
    const tg = fake.addBot({});
    const bot = (await createBot(owner, { name: 's', token: tg.token })).json();
    const url = `${base(owner)}/bots/${bot.id}`;
    const stopped = await t.request({ method: 'POST', url: `${url}/stop`, token: owner.token });
    expect(stopped.json()).toMatchObject({ enabled: false, status: 'stopped' });
    const started = await t.request({ method: 'POST', url: `${url}/start`, token: owner.token });
    expect(started.json()).toMatchObject({ enabled: true, status: 'starting' });
    const [before] = await t.deps.db.select().from(bots).where(eq(bots.id, bot.id));
    await t.request({ method: 'POST', url: `${url}/restart`, token: owner.token });
    const [after] = await t.deps.db.select().from(bots).where(eq(bots.id, bot.id));
    expect(after!.revision).toBe(before!.revision + 1);
  });

  it('deletes a bot (its webhook too) and keeps it invisible to other orgs', async () => {
    const tg = fake.addBot({});
    const bot = (await createBot(owner, { name: 'd', token: tg.token, mode: 'webhook' })).json();
    const url = `${base(owner)}/bots/${bot.id}`;
    expect((await t.request({ method: 'GET', url, token: other.token })).statusCode).toBe(404);
    expect(
      (await t.request({ method: 'GET', url: `${base(other)}/bots/${bot.id}`, token: other.token }))
        .statusCode,
    ).toBe(404);
    expect((await t.request({ method: 'DELETE', url, token: owner.token })).statusCode).toBe(204);
    expect((await t.request({ method: 'GET', url, token: owner.token })).statusCode).toBe(404);
    const info = (await fetch(`${fake.apiRoot}/bot${tg.token}/getWebhookInfo`).then((r) =>
      r.json(),
    )) as { result: { url: string } };
    expect(info.result.url).toBe('');
  });
});

describe('chats API', () => {
  it('adds a chat by id (type and title from getChat), links bots, refuses foreign bots, deletes', async () => {
    const tg = fake.addBot({});
    const bot = (await createBot(owner, { name: 'c', token: tg.token })).json();
    const tgChat = fake.addChat({ type: 'supergroup', title: 'Reception', botTokens: [tg.token] });
    const res = await t.request({
      method: 'POST',
      url: `${base(owner)}/chats`,
      token: owner.token,
      payload: { telegramChatId: tgChat.id, botIds: [bot.id] },
    });
    expect(res.statusCode).toBe(201);
    const chat = res.json();
    expect(chat).toMatchObject({
      telegramChatId: tgChat.id,
      type: 'supergroup',
      title: 'Reception',
      status: 'active',
      botIds: [bot.id],
    });
    const dup = await t.request({
      method: 'POST',
      url: `${base(owner)}/chats`,
      token: owner.token,
      payload: { telegramChatId: tgChat.id, botIds: [bot.id] },
    });
    expect(dup.statusCode).toBe(409);

    const foreignBot = (await createBot(other, { name: 'f', token: fake.addBot({}).token })).json();
    const foreign = await t.request({
      method: 'PATCH',
      url: `${base(owner)}/chats/${chat.id}`,
      token: owner.token,
      payload: { botIds: [foreignBot.id] },
    });
    expect(foreign.statusCode).toBe(400);

    const bot2 = (await createBot(owner, { name: 'c2', token: fake.addBot({}).token })).json();
    const linked = await t.request({
      method: 'PATCH',
      url: `${base(owner)}/chats/${chat.id}`,
      token: owner.token,
      payload: { botIds: [bot.id, bot2.id], title: 'Reception desk' },
    });
    expect(linked.json().botIds.sort()).toEqual([bot.id, bot2.id].sort());
    expect(linked.json().title).toBe('Reception desk');

    const byBot = await t.request({
      method: 'GET',
      url: `${base(owner)}/chats?botId=${bot2.id}&type=supergroup`,
      token: owner.token,
    });
    expect(byBot.json().items.map((c: { id: string }) => c.id)).toEqual([chat.id]);
    const none = await t.request({
      method: 'GET',
      url: `${base(owner)}/chats?type=private`,
      token: owner.token,
    });
    expect(none.json().items.map((c: { id: string }) => c.id)).not.toContain(chat.id);

    const unknownChat = await t.request({
      method: 'POST',
      url: `${base(owner)}/chats`,
      token: owner.token,
      payload: { telegramChatId: -1009999999999, title: 'Later', botIds: [bot.id] },
    });
    expect(unknownChat.statusCode).toBe(201);
    expect(unknownChat.json()).toMatchObject({ type: 'supergroup', title: 'Later' });

    expect(
      (
        await t.request({
          method: 'DELETE',
          url: `${base(owner)}/chats/${chat.id}`,
          token: owner.token,
        })
      ).statusCode,
    ).toBe(204);
  });
});
