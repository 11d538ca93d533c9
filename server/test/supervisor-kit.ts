import { supervisorToken } from '../src/http/access.js';
import { createLogger } from '../src/logger.js';
import { createProcessDriver } from '../src/runner/drivers/process.js';
import {
  createSupervisorApi,
  startSupervisor,
  type SupervisorOptions,
} from '../src/runner/supervisor.js';
import type { TestApp } from './app.js';

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
