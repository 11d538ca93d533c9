import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { buildApp } from '../server/src/app.js';
import { loadConfig } from '../server/src/config.js';
import { connectDatabase } from '../server/src/db/client.js';
import { runMigrations } from '../server/src/db/migrate.js';
import { supervisorToken } from '../server/src/http/access.js';
import { createLogger } from '../server/src/logger.js';
import {
  createProcessDriver,
  defaultRunnerNodeFlags,
} from '../server/src/runner/drivers/process.js';
import { createSupervisorApi, startSupervisor } from '../server/src/runner/supervisor.js';
import { startFakeTelegram } from '../server/test/fake-telegram/server.js';
import type { Bench, BenchRow } from './run.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const BOTS = Number(process.env.BENCH_RUNNER_BOTS ?? 5);
const MESSAGES_PER_BOT = 100;
const server = fileURLToPath(new URL('../server/', import.meta.url));

const kib = (pid: number, field: 'VmRSS' | 'VmHWM') => {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN);
};
const mb = (k: number) => (k / 1024).toFixed(1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Resident memory of bot runner processes (one per bot, as the process driver runs them):
 * idle after start, and after each bot sent 100 messages. Both the compiled build (what the
 * image runs) and the TypeScript sources through tsx (`npm start` from a checkout).
 */
const bench: Bench = {
  name: 'runner-memory',
  async run() {
    const rows: BenchRow[] = [];
    const outDir = `${server}.bench-dist`;
    await promisify(execFile)(
      process.execPath,
      [
        `${server}../node_modules/typescript/bin/tsc`,
        '-p',
        `${server}tsconfig.build.json`,
        '--outDir',
        outDir,
      ],
      { cwd: server },
    );
    // BENCH_RUNNER_NODE_FLAGS: compare other V8 flags against the product's defaults.
    const extra = process.env.BENCH_RUNNER_NODE_FLAGS?.split(' ').filter(Boolean);
    const compiled = [`${outDir}/runner/entry.js`];
    const variants = [
      {
        label: `compiled (${defaultRunnerNodeFlags.join(' ')})`,
        flags: defaultRunnerNodeFlags,
        args: compiled,
      },
      { label: 'compiled, no flags', flags: [], args: compiled },
      ...(extra ? [{ label: `compiled ${extra.join(' ')}`, flags: extra, args: compiled }] : []),
      {
        label: `tsx (${defaultRunnerNodeFlags.join(' ')})`,
        flags: defaultRunnerNodeFlags,
        args: ['--import', 'tsx', `${server}src/runner/entry.ts`],
      },
    ];
    for (const v of variants) rows.push(...(await measure(v.label, v.flags, v.args)));
    return rows;
  },
};

async function measure(label: string, nodeFlags: string[], args: string[]): Promise<BenchRow[]> {
  const name = `np_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const database = connectDatabase(url, 10);
  const fake = await startFakeTelegram({ port: 0 });
  try {
    await runMigrations(database.db);
    const config = loadConfig({
      LOG_LEVEL: 'silent',
      WEB_DIST_DIR: '/nonexistent',
      DATABASE_URL: url,
      TELEGRAM_API_ROOT: fake.apiRoot,
    });
    const { app, deps } = await buildApp({
      config,
      db: database.db,
      secretKey: 'bench-secret-key-0123456789abcdef0123',
      log: createLogger('silent'),
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const call = async (path: string, token: string, body?: unknown) => {
      const res = await fetch(`${base}/api/v1${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
      });
      return (await res.json()) as Record<string, unknown>;
    };
    const signup = (await (
      await fetch(`${base}/api/v1/auth/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: 'bench@example.test',
          password: 'bench password',
          name: 'B',
          organizationName: 'Bench',
        }),
      })
    ).json()) as { token: string; organization: { id: string } };
    const org = `/orgs/${signup.organization.id}`;
    const supervisor = startSupervisor({
      api: createSupervisorApi(base, supervisorToken(deps.secrets)),
      driver: createProcessDriver({ nodeFlags, args }),
      log: createLogger('silent'),
      runnerEnv: { INTERNAL_API_URL: base, TELEGRAM_API_ROOT: fake.apiRoot, LOG_LEVEL: 'warn' },
      reconcileMs: 200,
    });
    // Ten private chats per bot: 1 message/s per chat is Telegram's pace, 20/min per group.
    const bots: Array<{ id: string; chatIds: string[] }> = [];
    for (let i = 0; i < BOTS; i++) {
      const tg = fake.addBot({});
      const bot = await call(`${org}/bots`, signup.token, { name: `b${i}`, token: tg.token });
      const chatIds: string[] = [];
      for (let c = 0; c < 10; c++) {
        const user = fake.addUser({});
        fake.addChat({ id: user.id, type: 'private', botTokens: [tg.token] });
        const chat = await call(`${org}/chats`, signup.token, {
          telegramChatId: user.id,
          botIds: [bot.id],
        });
        chatIds.push(chat.id as string);
      }
      bots.push({ id: bot.id as string, chatIds });
    }
    for (;;) {
      const list = (await call(`${org}/bots`, signup.token)).items as Array<{ status: string }>;
      if (list.every((b) => b.status === 'running')) break;
      await sleep(200);
    }
    await sleep(3_000);
    const pids = bots.map((b) => Number(supervisor.handleOf(b.id)!.id));
    const idle = pids.map((p) => kib(p, 'VmRSS'));
    for (let n = 0; n < MESSAGES_PER_BOT; n++)
      for (const b of bots)
        await call(`${org}/notifications`, signup.token, {
          text: `message ${n} <b>bold</b> & more text to render`,
          chatIds: [b.chatIds[n % b.chatIds.length]!],
        });
    await fake.waitForMessages(BOTS * MESSAGES_PER_BOT, { timeoutMs: 120_000 });
    const busy = pids.map((p) => kib(p, 'VmRSS'));
    const peak = pids.map((p) => kib(p, 'VmHWM'));
    await supervisor.stop();
    await app.close();
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const note = `${BOTS} runner processes, node ${process.version}`;
    return [
      {
        bench: 'runner-memory',
        metric: `${label}: RSS idle (avg)`,
        value: `${mb(avg(idle))} MB`,
        note,
      },
      {
        bench: 'runner-memory',
        metric: `${label}: RSS after ${MESSAGES_PER_BOT} sends each (avg / max)`,
        value: `${mb(avg(busy))} / ${mb(Math.max(...busy))} MB`,
        note,
      },
      {
        bench: 'runner-memory',
        metric: `${label}: peak RSS (max)`,
        value: `${mb(Math.max(...peak))} MB`,
        note,
      },
    ];
  } finally {
    await fake.close();
    await database.close();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

export default bench;
