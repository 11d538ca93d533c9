import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestApp } from '../../test/app.js';
import {
  ensureBaseImage,
  ensureDockerEngine,
  type DockerEngine,
} from '../../test/docker-engine.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { startFakeTelegram, type FakeTelegram } from '../../test/fake-telegram/server.js';
import { createListeningTestApp } from '../../test/listening-app.js';
import { eventually } from '../../test/wait.js';
import { supervisorToken } from '../http/access.js';
import { createLogger } from '../logger.js';
import { createDockerDriver, runnerLabel } from './drivers/docker.js';
import { createSupervisorApi, startSupervisor, type Supervisor } from './supervisor.js';

// On a root Linux machine (this one, CI) the engine must work; elsewhere the file skips.
const required = process.platform === 'linux' && process.getuid?.() === 0;
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');

let engine: DockerEngine;
let t: TestApp;
let fake: FakeTelegram;
let owner: SignedUp;
let supervisor: Supervisor;
/** Containers start slower than processes, the more so on a busy machine. */
const slowly = <T>(check: Parameters<typeof eventually<T>>[0]) =>
  eventually(check, { ms: 60_000, everyMs: 200 });

describe.skipIf(!required)('bots supervisor (docker driver, real engine)', () => {
  beforeAll(async () => {
    engine = (await ensureDockerEngine({ required: true }))!;
    const image = await ensureBaseImage(engine);
    fake = await startFakeTelegram({ port: 0 });
    let address: string;
    ({ t, address } = await createListeningTestApp({ TELEGRAM_API_ROOT: fake.apiRoot }));
    owner = await signup(t);
    supervisor = startSupervisor({
      api: createSupervisorApi(address, supervisorToken(t.deps.secrets)),
      // The image built on this machine runs the checkout's runner (bind-mounted, read-only).
      driver: createDockerDriver({
        docker: engine.docker,
        image,
        network: 'host',
        cmd: ['node', '--import', 'tsx', `${repoRoot}/server/src/runner/entry.ts`],
        binds: [`${repoRoot}:${repoRoot}:ro`],
        workingDir: `${repoRoot}/server`,
        pollMs: 300,
        stopGraceSeconds: 3,
      }),
      log: createLogger('silent'),
      runnerEnv: {
        INTERNAL_API_URL: address,
        TELEGRAM_API_ROOT: fake.apiRoot,
        LOG_LEVEL: 'error',
        RUNNER_HEARTBEAT_SECONDS: '0.5',
        TSX_TSCONFIG_PATH: `${repoRoot}/server/tsconfig.json`,
      },
      reconcileMs: 300,
      staleMs: 20_000,
      baseBackoffMs: 300,
    });
    await supervisor.ready;
  }, 300_000);
  afterAll(async () => {
    await supervisor?.stop();
    await t?.close();
    await fake?.close();
  }, 60_000);

  const api = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
    t.request({ method, url: `/api/v1/orgs/${owner.orgId}${url}`, token: owner.token, payload });
  const containersOf = async (botId: string) =>
    engine.docker.listContainers({
      all: true,
      filters: JSON.stringify({ label: [`${runnerLabel}=${botId}`] }),
    });

  it('starts a labelled container per bot, which the engine restarts after a kill, and removes it on delete', async () => {
    const tg = fake.addBot({});
    const botId = (await api('POST', '/bots', { name: 'docker bot', token: tg.token })).json()
      .id as string;
    await slowly(async () => (await api('GET', `/bots/${botId}`)).json().status === 'running');
    const [c] = await containersOf(botId);
    expect(c).toBeDefined();
    const container = engine.docker.getContainer(c!.Id);
    const info = await container.inspect();
    expect(info.HostConfig.RestartPolicy?.Name).toBe('on-failure');
    expect(info.Config.Labels[runnerLabel]).toBe(botId);
    expect(info.Config.Env.some((e) => e.startsWith('DATABASE_URL='))).toBe(false);

    const { chat } = fake.botAddedToGroup({ token: tg.token, chat: { type: 'group' } });
    const seen = async (id: number) =>
      (await api('GET', '/chats'))
        .json()
        .items.some((x: { telegramChatId: number }) => x.telegramChatId === id) as boolean;
    await slowly(() => seen(chat.id));

    await container.kill({ signal: 'SIGKILL' });
    const { chat: later } = fake.botAddedToGroup({ token: tg.token, chat: { type: 'supergroup' } });
    await slowly(async () => {
      const now = await containersOf(botId);
      if (!now.length || now[0]!.State !== 'running') return false;
      const i = await engine.docker.getContainer(now[0]!.Id).inspect();
      return i.Id !== c!.Id || i.RestartCount > 0;
    });
    await slowly(() => seen(later.id));

    expect((await api('DELETE', `/bots/${botId}`)).statusCode).toBe(204);
    await slowly(async () => (await containersOf(botId)).length === 0);
  }, 120_000);
});
