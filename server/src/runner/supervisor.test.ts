import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../test/app.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { startFakeTelegram, type FakeTelegram } from '../../test/fake-telegram/server.js';
import { createListeningTestApp } from '../../test/listening-app.js';
import { startTestSupervisor } from '../../test/supervisor-kit.js';
import { eventually } from '../../test/wait.js';
import type { Supervisor } from './supervisor.js';

let t: TestApp;
let fake: FakeTelegram;
let owner: SignedUp;
let address: string;
let supervisor: Supervisor;

beforeAll(async () => {
  fake = await startFakeTelegram({ port: 0 });
  ({ t, address } = await createListeningTestApp({ TELEGRAM_API_ROOT: fake.apiRoot }));
  owner = await signup(t);
  supervisor = await startTestSupervisor(t, address, fake.apiRoot);
}, 30_000);
afterAll(async () => {
  await supervisor?.stop();
  await t.close();
  await fake.close();
}, 30_000);

const api = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
  t.request({ method, url: `/api/v1/orgs/${owner.orgId}${url}`, token: owner.token, payload });

const statusOf = async (botId: string) =>
  (await api('GET', `/bots/${botId}`)).json().status as string;
const hasChat = async (telegramChatId: number) =>
  (await api('GET', '/chats'))
    .json()
    .items.some(
      (c: { telegramChatId: number; status: string }) =>
        c.telegramChatId === telegramChatId && c.status === 'active',
    ) as boolean;
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function registerBot() {
  const tg = fake.addBot({});
  const res = await api('POST', '/bots', { name: `bot ${tg.id}`, token: tg.token });
  expect(res.statusCode).toBe(201);
  const botId = res.json().id as string;
  await eventually(async () => (await statusOf(botId)) === 'running');
  return { tg, botId };
}

describe('bots supervisor (process driver)', () => {
  it('starts a runner process for a new bot without a restart, and brings a SIGKILLed one back losing no update', async () => {
    const { tg, botId } = await registerBot();
    const first = Number(supervisor.handleOf(botId)!.id);
    expect(alive(first)).toBe(true);
    const { chat: before } = fake.botAddedToGroup({ token: tg.token, chat: { type: 'group' } });
    await eventually(() => hasChat(before.id));

    process.kill(first, 'SIGKILL');
    // Telegram keeps these until the next runner confirms them.
    const { chat: during } = fake.botAddedToGroup({
      token: tg.token,
      chat: { type: 'supergroup' },
    });
    const user = fake.addUser({});
    fake.userSendsMessage({ token: tg.token, from: user.id, text: '/start' });
    const second = await eventually<number>(() => {
      const h = supervisor.handleOf(botId);
      return h && Number(h.id) !== first ? Number(h.id) : undefined;
    });
    expect(alive(first)).toBe(false);
    await eventually(() => hasChat(during.id));
    await eventually(() => hasChat(user.id));
    await fake.waitForMessages(1, { chatId: user.id, token: tg.token, timeoutMs: 10_000 });
    expect(alive(second)).toBe(true);
    await eventually(async () => (await statusOf(botId)) === 'running');
  });

  it('stops the runner when the bot is stopped or deleted, starts it again when started', async () => {
    const { botId } = await registerBot();
    const pid = Number(supervisor.handleOf(botId)!.id);
    expect((await api('POST', `/bots/${botId}/stop`)).statusCode).toBe(200);
    await eventually(() => !alive(pid));
    expect(await statusOf(botId)).toBe('stopped');
    await api('POST', `/bots/${botId}/start`);
    await eventually(async () => (await statusOf(botId)) === 'running');
    const again = Number(supervisor.handleOf(botId)!.id);
    expect(again).not.toBe(pid);
    expect((await api('DELETE', `/bots/${botId}`)).statusCode).toBe(204);
    await eventually(() => !alive(again));
    expect(supervisor.handleOf(botId)).toBeUndefined();
  });

  it('shows error with the reason for a revoked token and after repeated crashes, other bots unharmed', async () => {
    const good = await registerBot();
    const revoked = await registerBot();
    fake.revokeToken(revoked.tg.token);
    await eventually(async () => (await statusOf(revoked.botId)) === 'error');
    expect((await api('GET', `/bots/${revoked.botId}`)).json().lastError).toContain('Unauthorized');
    await eventually(() => supervisor.handleOf(revoked.botId) === undefined);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(supervisor.handleOf(revoked.botId)).toBeUndefined(); // not restarted in a loop

    const crashing = await registerBot();
    for (let i = 0; i < 3; i++) {
      // Killed once it is up (a heartbeat after its credential was issued).
      const h = await eventually(async () => {
        const bot = (await api('GET', `/bots/${crashing.botId}`)).json();
        return bot.lastHeartbeatAt && supervisor.handleOf(crashing.botId);
      });
      process.kill(Number(h.id), 'SIGKILL');
      await h.exited;
    }
    await eventually(async () => {
      const logs = (await api('GET', '/logs?level=error')).json().items as Array<{
        message: string;
      }>;
      return logs.some((l) => l.message.includes('crashed 3 times in a row'));
    });
    await eventually(async () => (await statusOf(crashing.botId)) === 'running');

    const { chat } = fake.botAddedToGroup({ token: good.tg.token, chat: { type: 'group' } });
    await eventually(() => hasChat(chat.id));
    expect(await statusOf(good.botId)).toBe('running');
  });
});
