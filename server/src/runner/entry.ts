/**
 * The bot runner's own entry point, kept apart from main.ts so that a runner process loads
 * grammY and its internal-API client only — not Fastify, Drizzle or the mail stack.
 */
import { loadRunnerConfig } from './config.js';
import { createLogger } from '../logger.js';
import { createRunnerApi } from './internal-api.js';
import { startRunner } from './runner.js';

export async function runRunnerProcess(): Promise<never> {
  let config: ReturnType<typeof loadRunnerConfig>;
  try {
    config = loadRunnerConfig();
  } catch (err) {
    console.error((err as Error).message); // what is wrong, not a stack trace
    process.exit(1);
  }
  const log = createLogger(config.logLevel, { role: 'runner' });
  const runner = startRunner({
    api: createRunnerApi(config.internalApiUrl, config.runnerToken),
    telegramApiRoot: config.telegramApiRoot,
    heartbeatSeconds: config.heartbeatSeconds,
    log,
  });
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => runner.stop());
  const code = await runner.done;
  process.exit(code);
}

if (import.meta.url === `file://${process.argv[1]}`) void runRunnerProcess();
