/**
 * A bot runner's configuration: its api, its credential, Telegram — nothing else (no database).
 * Read once at start like config.ts, but without zod: a runner process loads only what it
 * needs, and zod alone would add about 12 MB to every runner's memory.
 */
export type RunnerConfig = {
  internalApiUrl: string;
  runnerToken: string;
  telegramApiRoot: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  heartbeatSeconds: number;
};

const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Parses and validates the runner's environment; throws with every offending variable named. */
export function loadRunnerConfig(env: NodeJS.ProcessEnv = process.env): RunnerConfig {
  const problems: string[] = [];
  const url = (name: string, fallback?: string) => {
    const value = env[name] || fallback;
    if (!value) problems.push(`  ${name}: required`);
    else if (!URL.canParse(value)) problems.push(`  ${name}: not a URL`);
    return (value ?? '').replace(/\/$/, '');
  };
  const internalApiUrl = url('INTERNAL_API_URL');
  const telegramApiRoot = url('TELEGRAM_API_ROOT', 'https://api.telegram.org');
  const runnerToken = env.NOTIFYPRO_RUNNER_TOKEN ?? '';
  if (!runnerToken.startsWith('npr_'))
    problems.push('  NOTIFYPRO_RUNNER_TOKEN: not a runner token');
  const logLevel = (env.LOG_LEVEL || 'info') as RunnerConfig['logLevel'];
  if (!levels.includes(logLevel)) problems.push(`  LOG_LEVEL: one of ${levels.join(', ')}`);
  const heartbeatSeconds = Number(env.RUNNER_HEARTBEAT_SECONDS || 5);
  if (!(heartbeatSeconds > 0)) problems.push('  RUNNER_HEARTBEAT_SECONDS: a positive number');
  if (problems.length) throw new Error(`Invalid runner configuration:\n${problems.join('\n')}`);
  return { internalApiUrl, runnerToken, telegramApiRoot, logLevel, heartbeatSeconds };
}
