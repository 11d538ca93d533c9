import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../test/app.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { startFakeTelegram, type FakeTelegram } from '../../test/fake-telegram/server.js';
import { createListeningTestApp } from '../../test/listening-app.js';
import { eventually } from '../../test/wait.js';
import { eq } from 'drizzle-orm';
import { hashToken } from '../crypto/secrets.js';
import { bots, telegramUpdates } from '../db/schema.js';
import { supervisorToken } from '../http/access.js';
import { createLogger } from '../logger.js';
import { createRunnerApi, InternalApiError, type RunnerApi } from './internal-api.js';
import { RunnerExit, startRunner } from './runner.js';

let t: TestApp;
let fake: FakeTelegram;
let owner: SignedUp;
let address: string;
const runners: Array<{ stop(): void; done: Promise<number> }> = [];

beforeAll(async () => {
  fake = await startFakeTelegram({ port: 0 });
  ({ t, address } = await createListeningTestApp({ TELEGRAM_API_ROOT: fake.apiRoot }));
  owner = await signup(t);
}, 30_000);
afterAll(async () => {
  for (const r of runners) r.stop();
  await Promise.all(runners.map((r) => r.done));
  await t.close();
  await fake.close();
});

const api = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
  t.request({ method, url: `/api/v1/orgs/${owner.orgId}${url}`, token: owner.token, payload });

/** Registers a bot through the API and starts its runner as the supervisor would. */
async function botWithRunner(
  mode: 'polling' | 'webhook' = 'polling',
  around: (real: RunnerApi) => RunnerApi = (real) => real,
) {
  const tg = fake.addBot({});
  const res = await api('POST', '/bots', { name: `bot ${tg.id}`, token: tg.token, mode });
  expect(res.statusCode).toBe(201);
  const bot = res.json() as { id: string };
  const cred = await t.request({
    method: 'POST',
    url: `/internal/v1/supervisor/bots/${bot.id}/credential`,
    headers: { authorization: `Bearer ${supervisorToken(t.deps.secrets)}` },
  });
  expect(cred.statusCode).toBe(200);
  const runner = startRunner({
    api: around(createRunnerApi(address, cred.json().runnerToken)),
    telegramApiRoot: fake.apiRoot,
    heartbeatSeconds: 0.2,
    log: createLogger('silent'),
    pollTimeoutSeconds: 1,
  });
  runners.push(runner);
  await eventually(async () => (await api('GET', `/bots/${bot.id}`)).json().status === 'running');
  return { tg, bot, runner };
}

const chatByTelegramId = async (telegramChatId: number) =>
  (await api('GET', '/chats'))
    .json()
    .items.find((c: { telegramChatId: number }) => c.telegramChatId === telegramChatId) as
    | { id: string; status: string; title: string; type: string; links: unknown[] }
    | undefined;

describe('bot runner (polling)', () => {
  it('reports running, discovers a group it is added to, follows title, removal and migration', async () => {
    const { tg, bot } = await botWithRunner();
    const shown = (await api('GET', `/bots/${bot.id}`)).json();
    expect(shown.lastHeartbeatAt).not.toBeNull();

    const { chat } = fake.botAddedToGroup({
      token: tg.token,
      chat: { type: 'group', title: 'Night shift' },
    });
    const found = await eventually(() => chatByTelegramId(chat.id));
    expect(found).toMatchObject({ type: 'group', title: 'Night shift', status: 'active' });

    fake.changeTitle({ chatId: chat.id, title: 'Night shift (all)' });
    await eventually(async () => (await chatByTelegramId(chat.id))?.title === 'Night shift (all)');

    const rule = await api('POST', '/rules', { name: 'Bookings', targets: [{ chatId: found.id }] });
    expect(rule.statusCode).toBe(201);
    const newId = fake.migrateGroupToSupergroup({ chatId: chat.id });
    const migrated = await eventually(() => chatByTelegramId(newId));
    expect(migrated.id).toBe(found.id);
    expect(migrated.type).toBe('supergroup');
    expect(await chatByTelegramId(chat.id)).toBeUndefined();
    const ruleNow = (await api('GET', `/rules/${rule.json().id}`)).json();
    expect(ruleNow.targets).toEqual([{ chatId: found.id }]);

    fake.userSendsMessage({ token: tg.token, chat: newId, text: '/status' });
    const [statusReply] = await fake.waitForMessages(1, { chatId: newId, token: tg.token });
    expect(statusReply!.plainText).toContain('Bookings');

    fake.botRemovedFromGroup({ token: tg.token, chatId: newId, kicked: true });
    await eventually(async () => (await chatByTelegramId(newId))?.status === 'inactive');
    const links = (await chatByTelegramId(newId))!.links;
    expect(links).toEqual([{ botId: bot.id, status: 'inactive', reason: 'kicked' }]);
  });

  it('registers a contact on /start, answers /id and /help in the user’s language, once per update_id', async () => {
    const { tg } = await botWithRunner();
    const user = fake.addUser({ languageCode: 'ru', firstName: 'Анна' });
    fake.userSendsMessage({ token: tg.token, from: user.id, text: '/start' });
    const contact = await eventually(() => chatByTelegramId(user.id));
    expect(contact).toMatchObject({ type: 'private', title: 'Анна', status: 'active' });
    const [welcome] = await fake.waitForMessages(1, { chatId: user.id, token: tg.token });
    expect(welcome!.plainText).toContain('Здравствуйте');
    expect(welcome!.plainText).toContain(String(user.id));

    const idUpdate = fake.userSendsMessage({ token: tg.token, from: user.id, text: '/id' });
    await fake.waitForMessages(2, { chatId: user.id, token: tg.token });
    fake.repeatUpdate(tg.token, idUpdate.update_id);
    const en = fake.addUser({ languageCode: 'en' });
    fake.userSendsMessage({ token: tg.token, from: en.id, text: '/help' });
    const [help] = await fake.waitForMessages(1, { chatId: en.id, token: tg.token });
    expect(help!.plainText).toContain('/status');
    // The repeated /id came before /help: had it been processed again, a third reply would be there.
    expect(fake.messages({ chatId: user.id, token: tg.token })).toHaveLength(2);
    expect(fake.messages({ chatId: user.id, token: tg.token })[1]!.plainText).toContain(
      String(user.id),
    );

    fake.userBlocksBot({ token: tg.token, userId: user.id });
    await eventually(async () => (await chatByTelegramId(user.id))?.status === 'inactive');
  });

  it('tells the api again that updates are handled while it does not take it, so no answer goes twice', async () => {
    const marked: number[][] = [];
    const { tg } = await botWithRunner('polling', (real) => ({
      ...real,
      updatesDone: async (ids) => {
        if (ids.length) {
          marked.push(ids);
          // The api restarting: refused, then 503, then taken.
          if (marked.length === 1)
            throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
          if (marked.length === 2) throw new InternalApiError(503, 'restarting');
        }
        return real.updatesDone(ids);
      },
    }));
    const user = fake.addUser({});
    const update = fake.userSendsMessage({ token: tg.token, from: user.id, text: '/id' });
    await fake.waitForMessages(1, { chatId: user.id, token: tg.token });
    await eventually(() => marked.length === 3);
    expect(marked).toEqual([[update.update_id], [update.update_id], [update.update_id]]);
    const stored = await t.deps.db
      .select()
      .from(telegramUpdates)
      .where(eq(telegramUpdates.updateId, update.update_id));
    expect(stored.map((u) => u.processedAt)).not.toContain(null);
    expect(fake.messages({ chatId: user.id, token: tg.token })).toHaveLength(1);
  });

  it('goes to error with Telegram’s reason when its token is revoked, while other bots keep running', async () => {
    const a = await botWithRunner();
    const b = await botWithRunner();
    fake.revokeToken(a.tg.token);
    expect(await a.runner.done).toBe(RunnerExit.badToken);
    const shown = (await api('GET', `/bots/${a.bot.id}`)).json();
    expect(shown.status).toBe('error');
    expect(shown.lastError).toContain('Unauthorized');
    const { chat } = fake.botAddedToGroup({
      token: b.tg.token,
      chat: { type: 'supergroup', title: 'Still here' },
    });
    await eventually(() => chatByTelegramId(chat.id));
    expect((await api('GET', `/bots/${b.bot.id}`)).json().status).toBe('running');
  });

  it('ends when its credential is replaced (one runner per bot)', async () => {
    const { bot, runner } = await botWithRunner();
    await t.request({
      method: 'POST',
      url: `/internal/v1/supervisor/bots/${bot.id}/credential`,
      headers: { authorization: `Bearer ${supervisorToken(t.deps.secrets)}` },
    });
    expect(await runner.done).toBe(RunnerExit.superseded);
  });
});

describe('bot runner (webhook mode)', () => {
  it('receives Telegram’s pushes through the api, refuses a wrong secret, processes repeats once', async () => {
    const { tg, bot } = await botWithRunner('webhook');
    const user = fake.addUser({});
    fake.userSendsMessage({ token: tg.token, from: user.id, text: '/id' });
    const [reply] = await fake.waitForMessages(1, { chatId: user.id, token: tg.token });
    expect(reply!.plainText).toContain(String(user.id));
    expect(fake.webhookDeliveries({ token: tg.token }).length).toBeGreaterThan(0);

    const forged = {
      update_id: 1,
      message: { message_id: 1, date: 0, chat: { id: 5, type: 'private' }, text: '/id' },
    };
    for (const headers of [{}, { 'x-telegram-bot-api-secret-token': 'wrong' }] as Array<
      Record<string, string>
    >) {
      const res = await fetch(`${address}/telegram/webhook/${bot.id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(forged),
      });
      expect(res.status).toBe(401);
    }
    const unknown = await fetch(`${address}/telegram/webhook/not-a-bot`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(unknown.status).toBe(401);

    // The right secret (set here: Telegram keeps the real one) with what is not an update → 400,
    // stored nothing; another bot's secret → 401.
    await t.deps.db
      .update(bots)
      .set({ webhookSecret: hashToken('known-secret') })
      .where(eq(bots.id, bot.id));
    for (const body of ['{"no":"update_id"}', '[1,2]', '{"update_id":-5}', 'not json']) {
      const res = await fetch(`${address}/telegram/webhook/${bot.id}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-telegram-bot-api-secret-token': 'known-secret',
        },
        body,
      });
      expect(res.status, body).toBe(400);
    }
    const other = await botWithRunner('webhook');
    const crossed = await fetch(`${address}/telegram/webhook/${other.bot.id}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-telegram-bot-api-secret-token': 'known-secret',
      },
      body: JSON.stringify(forged),
    });
    expect(crossed.status).toBe(401);
    const stored = await t.deps.db
      .select()
      .from(telegramUpdates)
      .where(eq(telegramUpdates.botId, bot.id));
    expect(stored.some((u) => u.updateId === forged.update_id)).toBe(false);
    // Telegram's own pushes go on working once the real secret is back.
    await api('PATCH', `/bots/${bot.id}`, { mode: 'polling' });
    await api('PATCH', `/bots/${bot.id}`, { mode: 'webhook' });

    const again = fake.userSendsMessage({ token: tg.token, from: user.id, text: '/id' });
    await fake.waitForMessages(2, { chatId: user.id, token: tg.token });
    fake.repeatUpdate(tg.token, again.update_id);
    fake.userSendsMessage({ token: tg.token, from: user.id, text: '/help' });
    await fake.waitForMessages(3, { chatId: user.id, token: tg.token });
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.messages({ chatId: user.id, token: tg.token })).toHaveLength(3);
  });
});
