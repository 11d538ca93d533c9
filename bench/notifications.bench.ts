/**
 * `npm run bench -- notifications`: POST /api/v1/orgs/{org}/notifications per second over the
 * machine's real PostgreSQL, durable (each 202 follows its commit; synchronous_commit is the
 * server's default, on), beside GET /healthz in the same run and process as the ceiling of
 * this HTTP stack here. Each POST is one text to one chat with an API key (a lookup per
 * request, as in production). Run with group commit (NOTIFICATIONS_BATCH_MAX, default 500) and
 * with one transaction per request (NOTIFICATIONS_BATCH_MAX=1) for comparison.
 *
 * NOTIFICATIONS_BENCH_SECONDS (default 5) per measurement, NOTIFICATIONS_BENCH_CONCURRENCY
 * (default 64) clients.
 */
import { randomBytes } from 'node:crypto';
import { count, sql } from 'drizzle-orm';
import pg from 'pg';
import { buildApp } from '../server/src/app.js';
import { loadConfig } from '../server/src/config.js';
import { connectDatabase } from '../server/src/db/client.js';
import { runMigrations } from '../server/src/db/migrate.js';
import { botChats, bots, chats, notifications } from '../server/src/db/schema.js';
import { createLogger } from '../server/src/logger.js';
import { httpLoad, type LoadResult } from './http-load.js';
import type { Bench, BenchRow } from './run.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SECONDS = Number(process.env.NOTIFICATIONS_BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.NOTIFICATIONS_BENCH_CONCURRENCY ?? 64);

async function measure(batchMax: number) {
  const name = `np_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  // The api's default pool size (main.ts).
  const database = connectDatabase(ADMIN_URL.replace(/\/[^/]*$/, `/${name}`), 10);
  try {
    await runMigrations(database.db);
    const config = loadConfig({
      LOG_LEVEL: 'silent',
      WEB_DIST_DIR: '/nonexistent',
      DATABASE_URL: 'postgres://x@127.0.0.1/x',
      NOTIFICATIONS_BATCH_MAX: String(batchMax),
    });
    const { app, deps } = await buildApp({
      config,
      db: database.db,
      secretKey: 'bench-secret-key-0123456789abcdef0123',
      log: createLogger('silent'),
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const signup = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/signup',
      payload: {
        email: 'bench@example.test',
        password: 'bench password',
        name: 'B',
        organizationName: 'Bench',
      },
    });
    const { token, organization } = signup.json() as {
      token: string;
      organization: { id: string };
    };
    const orgId = organization.id;
    const key = (
      await app.inject({
        method: 'POST',
        url: `/api/v1/orgs/${orgId}/api-keys`,
        headers: { authorization: `Bearer ${token}` },
        payload: { name: 'bench', role: 'operator' },
      })
    ).json().key as string;
    const [bot] = await deps.db
      .insert(bots)
      .values({
        orgId,
        name: 'bench',
        telegramId: 1,
        tokenEncrypted: deps.secrets.encrypt('1:AAA'),
        tokenHint: 'AAA',
        status: 'running',
      })
      .returning();
    const [chat] = await deps.db
      .insert(chats)
      .values({ orgId, telegramChatId: -1001, type: 'group', title: 'bench' })
      .returning();
    await deps.db.insert(botChats).values({ orgId, botId: bot!.id, chatId: chat!.id });

    let n = 0;
    const post = () =>
      httpLoad({
        url: `${base}/api/v1/orgs/${orgId}/notifications`,
        method: 'POST',
        headers: { authorization: `Bearer ${key}` },
        body: () => JSON.stringify({ text: `bench <${n++}> & co`, chatIds: [chat!.id] }),
        concurrency: CONCURRENCY,
        seconds: SECONDS,
        expectStatus: 202,
      });
    const health = () =>
      httpLoad({
        url: `${base}/healthz`,
        concurrency: CONCURRENCY,
        seconds: SECONDS,
        expectStatus: 200,
      });
    await post(); // warm-up (JIT, pool connections, plan cache)
    const [{ before } = { before: 0 }] = await deps.db
      .select({ before: count() })
      .from(notifications);
    const healthz = await health();
    const posts = await post();
    const [{ after } = { after: 0 }] = await deps.db.select({ after: count() }).from(notifications);
    const [{ commits } = { commits: 0 }] = (
      await deps.db.execute(
        sql`select count(distinct xmin::text)::int as commits from notifications`,
      )
    ).rows as Array<{ commits: number }>;
    await app.close();
    return { healthz, posts, stored: after - before, total: after, commits };
  } finally {
    await database.close();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

const fmt = (r: LoadResult) => `${r.perSecond.toFixed(0)}/s`;
const lat = (r: LoadResult) =>
  `p50 ${r.p50ms.toFixed(1)} ms, p99 ${r.p99ms.toFixed(1)} ms, ${r.errors} errors, ${CONCURRENCY} clients`;

const bench: Bench = {
  name: 'notifications',
  async run() {
    const rows: BenchRow[] = [];
    for (const [label, batchMax] of [
      ['group commit (NOTIFICATIONS_BATCH_MAX=500)', 500],
      ['one transaction per request (NOTIFICATIONS_BATCH_MAX=1)', 1],
    ] as const) {
      const r = await measure(batchMax);
      rows.push(
        {
          bench: 'notifications',
          metric: `${label}: GET /healthz`,
          value: fmt(r.healthz),
          note: lat(r.healthz),
        },
        {
          bench: 'notifications',
          metric: `${label}: POST …/notifications (202, committed)`,
          value: fmt(r.posts),
          note: `${lat(r.posts)}; ${r.stored} stored for ${r.posts.requests} answered; ${(r.total / Math.max(1, r.commits)).toFixed(1)} notifications per commit overall`,
        },
      );
    }
    return rows;
  },
};
export default bench;
