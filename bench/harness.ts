/**
 * Shared set-up of the HTTP benchmarks: the real api (`notifypro api`, its own process, over a
 * fresh database on the machine's PostgreSQL) and wrk as the load generator in another
 * process, so the client's CPU is not the server's. The server's CPU time per request is
 * read from /proc: unlike requests per second, it hardly moves when the machine is busy.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { hashToken } from '../server/src/crypto/secrets.js';
import { connectDatabase, type Database, type DatabaseHandle } from '../server/src/db/client.js';
import { bots } from '../server/src/db/schema.js';
import { createProcessDriver } from '../server/src/runner/drivers/process.js';
import { freePort } from '../server/test/wait.js';

export const ADMIN_URL =
  process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const root = fileURLToPath(new URL('..', import.meta.url));

/** wrk from Debian's packages (installed here when missing and allowed). */
export function ensureWrk(): void {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    // wrk --version exits 1 after printing its version; only a missing binary is ENOENT
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return;
    if (process.getuid?.() !== 0) throw new Error('wrk is missing: sudo apt-get install -y wrk');
    execFileSync('apt-get', ['install', '-y', '-q', 'wrk'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
}

export type ApiProcess = {
  base: string;
  pid: number;
  database: DatabaseHandle;
  /** user + system CPU time of the api process so far, in ms */
  cpuMs(): number;
  stop(): Promise<void>;
};

/** `notifypro api` on a fresh database, ready (/readyz) when this resolves. */
export async function startApiProcess(env: Record<string, string> = {}): Promise<ApiProcess> {
  const name = `np_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    // BENCH_API_NODE_ARGS: extra node flags for the api, e.g. --cpu-prof to profile it
    [
      ...(process.env.BENCH_API_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      '--import',
      'tsx',
      'server/src/main.ts',
      'api',
    ],
    {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: url,
        SECRET_KEY: 'bench-secret-key-0123456789abcdef0123',
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        DATA_DIR: `/tmp/${name}`,
        ...env,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  );
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`notifypro api exited (${child.exitCode})`);
    const ready = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error('notifypro api did not become ready in 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const database = connectDatabase(url, 2);
  const ticks = () => {
    const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100/s)
  };
  return {
    base,
    pid: child.pid!,
    database,
    cpuMs: () => ticks() * 10,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await database.close();
      const drop = new pg.Client({ connectionString: ADMIN_URL });
      await drop.connect();
      await drop.query(`drop database if exists ${name} with (force)`);
      await drop.end();
    },
  };
}

/** Signs up the bench's account; returns its session token and org. */
export async function signupBench(base: string) {
  const res = await fetch(`${base}/api/v1/auth/signup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: 'bench@example.test',
      password: 'bench password',
      name: 'B',
      organizationName: 'Bench',
    }),
  });
  if (!res.ok) throw new Error(`signup: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { token: string; organization: { id: string } };
  return { token: body.token, orgId: body.organization.id };
}

export type WrkResult = {
  requests: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  /** non-2xx/3xx answers and socket errors */
  errors: number;
  /** the api's CPU time per answered request, ms */
  cpuMsPerRequest: number;
};

/**
 * wrk (one thread, `connections` keep-alive connections) against `url` for `seconds`.
 * `post` makes every request a POST with a JSON body; `$n` in it becomes a per-request counter.
 */
export function runWrk(
  api: ApiProcess,
  opts: {
    path: string;
    seconds: number;
    connections: number;
    headers?: Record<string, string>;
    post?: string;
  },
): WrkResult {
  const script = `/tmp/np-bench-${process.pid}.lua`;
  const headers = { ...(opts.post ? { 'content-type': 'application/json' } : {}), ...opts.headers };
  const lua = [
    `wrk.method = ${JSON.stringify(opts.post ? 'POST' : 'GET')}`,
    ...Object.entries(headers).map(
      ([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`,
    ),
    'local n = 0',
    opts.post
      ? `request = function() n = n + 1; return wrk.format(nil, nil, nil, ((${luaString(opts.post)}):gsub("%$n", tostring(n)))) end`
      : '',
  ].join('\n');
  writeFileSync(script, lua);
  const before = api.cpuMs();
  const out = execFileSync(
    'wrk',
    [
      '-t1',
      `-c${opts.connections}`,
      `-d${opts.seconds}s`,
      '--latency',
      '-s',
      script,
      api.base + opts.path,
    ],
    { encoding: 'utf8' },
  );
  const cpu = api.cpuMs() - before;
  const num = (re: RegExp) => Number(out.match(re)?.[1] ?? NaN);
  const ms = (re: RegExp) => {
    const m = out.match(re);
    if (!m) return NaN;
    const unit = m[2]!;
    return Number(m[1]) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : 1);
  };
  const total = num(/(\d+) requests in/);
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/) || 0;
  const socket = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const answered = total - non2xx;
  return {
    requests: answered,
    perSecond: num(/Requests\/sec:\s+([\d.]+)/) * (answered / Math.max(1, total)),
    p50ms: ms(/\s50%\s+([\d.]+)(us|ms|s)/),
    p99ms: ms(/\s99%\s+([\d.]+)(us|ms|s)/),
    errors: non2xx + socketErrors,
    cpuMsPerRequest: cpu / Math.max(1, total),
  };
}

const luaString = (s: string) => `[==[${s}]==]`;

export const fmtRate = (r: WrkResult) => `${r.perSecond.toFixed(0)}/s`;
export const fmtLoad = (r: WrkResult, connections: number) =>
  `p50 ${r.p50ms.toFixed(1)} ms, p99 ${r.p99ms.toFixed(1)} ms, api CPU ${r.cpuMsPerRequest.toFixed(3)} ms/request, ${r.errors} errors, ${connections} connections (wrk)`;

const FAKE_MAIN = fileURLToPath(new URL('../server/test/fake-telegram/main.ts', import.meta.url));

/** The fake Telegram in its own process (`npm run fake-telegram`), driven by its control API. */
export async function startFakeProcess() {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', FAKE_MAIN], {
    env: { ...process.env, FAKE_TELEGRAM_PORT: String(port), FAKE_TELEGRAM_HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const apiRoot = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`fake Telegram exited (${code})`)));
  });
  child.stdout.resume();
  const control = async <T>(method: string, args: object = {}): Promise<T> => {
    const res = await fetch(`${apiRoot}/_fake/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(args),
    });
    const body = (await res.json()) as { ok: boolean; result: T; error?: string };
    if (!body.ok) throw new Error(`fake ${method}: ${body.error}`);
    return body.result;
  };
  return {
    apiRoot,
    control,
    async close() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

type FakeProcess = Awaited<ReturnType<typeof startFakeProcess>>;

/** A bot in the fake Telegram and in the database, with the runner token its runner will use. */
export async function addBenchBot(
  deps: { db: Database; secrets: { encrypt(value: string): string } },
  orgId: string,
  fake: FakeProcess,
  name: string,
) {
  const tg = await fake.control<{ id: number; token: string }>('addBot');
  const runnerToken = `npr_bench_${randomBytes(12).toString('hex')}`;
  const [bot] = await deps.db
    .insert(bots)
    .values({
      orgId,
      name,
      telegramId: tg.id,
      tokenEncrypted: deps.secrets.encrypt(tg.token),
      tokenHint: 'x',
      status: 'running',
      runnerTokenHash: hashToken(runnerToken),
    })
    .returning();
  /**
   * The bot's runner as the supervisor starts it (its own process, the runners' V8 flags;
   * BENCH_RUNNER_NODE_FLAGS replaces them, to compare).
   */
  const nodeFlags = process.env.BENCH_RUNNER_NODE_FLAGS?.split(' ').filter(Boolean);
  const startRunner = (internalApiUrl: string) =>
    createProcessDriver({ stopGraceMs: 3_000, ...(nodeFlags ? { nodeFlags } : {}) }).start({
      botId: bot!.id,
      env: {
        INTERNAL_API_URL: internalApiUrl,
        TELEGRAM_API_ROOT: fake.apiRoot,
        NOTIFYPRO_RUNNER_TOKEN: runnerToken,
        LOG_LEVEL: 'error',
      },
    });
  return { bot: bot!, tg, startRunner };
}
