/**
 * `npm run bench -- notifications`: POST /api/v1/orgs/{org}/notifications per second against
 * the real `notifypro api` (its own process) over the machine's PostgreSQL, durable (each 202
 * follows its commit; synchronous_commit is the server's default, on), beside GET /healthz in
 * the same run as the ceiling of this HTTP stack here. wrk is the client, in its own process.
 * Each POST is one text to one chat with an API key (looked up for every request, as in
 * production). Run with group commit (NOTIFICATIONS_BATCH_MAX, default 500) and with one
 * transaction per request (NOTIFICATIONS_BATCH_MAX=1) for comparison.
 *
 * NOTIFICATIONS_BENCH_SECONDS (default 10) per measurement, NOTIFICATIONS_BENCH_CONNECTIONS
 * (default 64), NOTIFICATIONS_BENCH_ROUNDS (default 3): /healthz and POST take turns that many
 * times against the same api, and each is reported by its median round with the range beside
 * it — this machine is shared, and one 10-second run moves by ±15 % with its neighbours.
 */
import { count, sql } from 'drizzle-orm';
import { SecretBox } from '../server/src/crypto/secrets.js';
import { botChats, bots, chats, notifications } from '../server/src/db/schema.js';
import {
  ensureWrk,
  fmtLoad,
  fmtRate,
  runWrk,
  signupBench,
  startApiProcess,
  type WrkResult,
} from './harness.js';
import type { Bench, BenchRow } from './run.js';

const SECONDS = Number(process.env.NOTIFICATIONS_BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.NOTIFICATIONS_BENCH_CONNECTIONS ?? 64);
const ROUNDS = Math.max(1, Number(process.env.NOTIFICATIONS_BENCH_ROUNDS ?? 3));

/** The median round by requests per second (the upper one of an even count). */
const median = (runs: WrkResult[]) =>
  [...runs].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(runs.length / 2)]!;
const range = (runs: WrkResult[]) =>
  runs.length > 1
    ? `; ${runs.length} rounds: ${Math.min(...runs.map((r) => r.perSecond)).toFixed(0)}–${Math.max(...runs.map((r) => r.perSecond)).toFixed(0)}/s`
    : '';

async function measure(batchMax: number) {
  const api = await startApiProcess({ NOTIFICATIONS_BATCH_MAX: String(batchMax) });
  try {
    const { token, orgId } = await signupBench(api.base);
    const keyRes = await fetch(`${api.base}/api/v1/orgs/${orgId}/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench', role: 'operator' }),
    });
    const { key } = (await keyRes.json()) as { key: string };
    const db = api.database.db;
    const secrets = new SecretBox('bench-secret-key-0123456789abcdef0123');
    const [bot] = await db
      .insert(bots)
      .values({
        orgId,
        name: 'bench',
        telegramId: 1,
        tokenEncrypted: secrets.encrypt('1:AAA'),
        tokenHint: 'AAA',
        status: 'running',
      })
      .returning();
    const [chat] = await db
      .insert(chats)
      .values({ orgId, telegramChatId: -1001, type: 'group', title: 'bench' })
      .returning();
    await db.insert(botChats).values({ orgId, botId: bot!.id, chatId: chat!.id });

    const post = (seconds: number) =>
      runWrk(api, {
        path: `/api/v1/orgs/${orgId}/notifications`,
        seconds,
        connections: CONNECTIONS,
        headers: { authorization: `Bearer ${key}` },
        post: JSON.stringify({ text: 'bench <$n> & co', chatIds: [chat!.id] }),
      });
    post(3); // warm-up (JIT, pool connections, prepared statements)
    const [{ before } = { before: 0 }] = await db.select({ before: count() }).from(notifications);
    const healthz: WrkResult[] = [];
    const posts: WrkResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      healthz.push(runWrk(api, { path: '/healthz', seconds: SECONDS, connections: CONNECTIONS }));
      posts.push(post(SECONDS));
    }
    const [{ after } = { after: 0 }] = await db.select({ after: count() }).from(notifications);
    const [{ commits } = { commits: 0 }] = (
      await db.execute(sql`select count(distinct xmin::text)::int as commits from notifications`)
    ).rows as Array<{ commits: number }>;
    const answered = posts.reduce((n, p) => n + p.requests, 0);
    return { healthz, posts, stored: after - before, answered, total: after, commits };
  } finally {
    await api.stop();
  }
}

const bench: Bench = {
  name: 'notifications',
  async run() {
    ensureWrk();
    const rows: BenchRow[] = [];
    for (const [label, batchMax] of [
      ['group commit (NOTIFICATIONS_BATCH_MAX=500)', 500],
      ['one transaction per request (NOTIFICATIONS_BATCH_MAX=1)', 1],
    ] as const) {
      const r = await measure(batchMax);
      const healthz = median(r.healthz);
      const posts = median(r.posts);
      const ratio = `${((100 * posts.perSecond) / healthz.perSecond).toFixed(0)} %`;
      rows.push(
        {
          bench: 'notifications',
          metric: `${label}: GET /healthz`,
          value: fmtRate(healthz),
          note: `${fmtLoad(healthz, CONNECTIONS)}${range(r.healthz)}`,
        },
        {
          bench: 'notifications',
          metric: `${label}: POST …/notifications (202, committed)`,
          value: fmtRate(posts),
          note: `${fmtLoad(posts, CONNECTIONS)}${range(r.posts)}; ${ratio} of /healthz; ${r.stored} stored for ${r.answered} answered; ${(r.total / Math.max(1, r.commits)).toFixed(1)} notifications per commit overall`,
        },
      );
    }
    return rows;
  },
};
export default bench;
