import { supervisorToken } from '../src/http/access.js';
import { createLogger } from '../src/logger.js';
import { createProcessDriver } from '../src/runner/drivers/process.js';
import {
  createSupervisorApi,
  startSupervisor,
  type SupervisorOptions,
} from '../src/runner/supervisor.js';
import type { TestApp } from './app.js';
import type { SignedUp } from './factories.js';
import type { FakeTelegram } from './fake-telegram/server.js';
import { eventually } from './wait.js';

/**
 * The real bots supervisor with real runner processes (process driver) against a listening
 * test api and a Bot API root, with the short intervals tests want.
 */
export async function startTestSupervisor(
  t: Pick<TestApp, 'deps'>,
  address: string,
  telegramApiRoot: string,
  overrides: Partial<SupervisorOptions> = {},
) {
  const supervisor = startSupervisor({
    api: createSupervisorApi(address, supervisorToken(t.deps.secrets)),
    driver: createProcessDriver({ stopGraceMs: 3_000 }),
    log: createLogger('silent'),
    runnerEnv: {
      INTERNAL_API_URL: address,
      TELEGRAM_API_ROOT: telegramApiRoot,
      LOG_LEVEL: 'error',
      RUNNER_HEARTBEAT_SECONDS: '0.5',
    },
    reconcileMs: 200,
    staleMs: 15_000,
    baseBackoffMs: 300,
    crashesBeforeError: 3,
    ...overrides,
  });
  await supervisor.ready;
  return supervisor;
}

/**
 * Registers a bot of `owner`'s org through the API, waits for the supervisor's runner to report
 * it running, adds it to `groups` new Telegram groups and waits until the api knows their chats.
 */
export async function supervisedBotInGroups(
  t: Pick<TestApp, 'request'>,
  owner: SignedUp,
  fake: FakeTelegram,
  { name, groups }: { name: string; groups: number },
) {
  const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
    t.request({ method, url: `/api/v1/orgs/${owner.orgId}${url}`, token: owner.token, payload });
  const tg = fake.addBot({});
  const bot = await api('POST', '/bots', { name, token: tg.token });
  if (bot.statusCode !== 201) throw new Error(`bot: ${bot.statusCode} ${bot.body}`);
  const botId = bot.json().id as string;
  await eventually(async () => (await api('GET', `/bots/${botId}`)).json().status === 'running');
  const telegramChatIds = Array.from(
    { length: groups },
    () => fake.botAddedToGroup({ token: tg.token, chat: { type: 'group' } }).chat.id,
  );
  const chatIds = await eventually(async () => {
    const items = (await api('GET', '/chats')).json().items as Array<{
      id: string;
      telegramChatId: number;
    }>;
    const ids = telegramChatIds.map((g) => items.find((c) => c.telegramChatId === g)?.id);
    return ids.every(Boolean) && (ids as string[]);
  });
  return { tg, botId, telegramChatIds, chatIds };
}
