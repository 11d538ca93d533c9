/**
 * `npm run bench -- fanout`: 1,000 notifications to 50 groups (20 each, accepted round-robin)
 * through one bot, laid out as in production: the fake Telegram (its main.ts) with its real
 * limits (30 per 1000 ms per bot, per chat a burst of 3 then 1/s, 20 per 60 s per group) in its
 * own process, the bot's runner in its own (the supervisor's process driver, the runners' V8
 * flags), and the api (outbox, long poll) in the bench's, over the machine's PostgreSQL. The
 * figure: from the fake's first accepted message until it has accepted all 1,000 (everything
 * was queued before the runner started), against the floor those limits allow, and the 429s.
 *
 * The floor: 20 per group never meets the 20/min group limit, and 50 chats at 1/s each could
 * take 50/s, so the bot's 30 per second binds: message k can go ⌊k/30⌋ s after the first at the
 * earliest, the 1,000th (k = 999) at 33 s. (Per chat: 3 at once + 17 at 1/s = 17 s, below that.)
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { gt } from 'drizzle-orm';
import pg from 'pg';
import { buildApp } from '../server/src/app.js';
import { loadConfig } from '../server/src/config.js';
import { connectDatabase } from '../server/src/db/client.js';
import { runMigrations } from '../server/src/db/migrate.js';
import { botChats, chats, deliveries } from '../server/src/db/schema.js';
import { createLogger } from '../server/src/logger.js';
import { sendLatencySeconds } from '../server/src/metrics.js';
import { addBenchBot, startFakeProcess } from './harness.js';
import type { Bench } from './run.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const GROUPS = 50;
const MESSAGES = 1_000;

/** The earliest the last message can go under the fake's limits, in ms (see the header). */
export function fanoutFloorMs(messages: number, groups: number) {
  const perGroup = Math.ceil(messages / groups);
  const byBot = Math.floor((messages - 1) / 30) * 1000;
  const byChat = Math.max(0, perGroup - 3) * 1000;
  const byGroup = Math.floor((perGroup - 1) / 20) * 60_000;
  return Math.max(byBot, byChat, byGroup);
}

const bench: Bench = {
  name: 'fanout',
  async run() {
    const name = `np_bench_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const database = connectDatabase(ADMIN_URL.replace(/\/[^/]*$/, `/${name}`), 10);
    const fake = await startFakeProcess();
    let runner: { stop(): Promise<void> } | undefined;
    try {
      await runMigrations(database.db);
      const config = loadConfig({
        LOG_LEVEL: 'silent',
        WEB_DIST_DIR: '/nonexistent',
        DATABASE_URL: 'postgres://x@127.0.0.1/x',
      });
      const { app, deps } = await buildApp({
        config,
        db: database.db,
        secretKey: 'bench-secret-key-0123456789abcdef0123',
        log: createLogger('silent'),
      });
      const address = await app.listen({ port: 0, host: '127.0.0.1' });
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
      const { bot, tg, startRunner } = await addBenchBot(deps, orgId, fake, 'fanout');
      const chatIds: string[] = [];
      for (let g = 0; g < GROUPS; g++) {
        const chat = await fake.control<{ id: number }>('addChat', {
          type: 'group',
          title: `g${g}`,
          botTokens: [tg.token],
        });
        const [row] = await deps.db
          .insert(chats)
          .values({ orgId, telegramChatId: chat.id, type: 'group', title: `g${g}` })
          .returning();
        await deps.db.insert(botChats).values({ orgId, botId: bot.id, chatId: row!.id });
        chatIds.push(row!.id);
      }
      for (let i = 0; i < MESSAGES; i++) {
        const res = await app.inject({
          method: 'POST',
          url: `/api/v1/orgs/${orgId}/notifications`,
          headers: { authorization: `Bearer ${token}` },
          payload: { text: `fan-out ${i}`, chatIds: [chatIds[i % GROUPS]] },
        });
        if (res.statusCode !== 202) throw new Error(`POST answered ${res.statusCode}`);
      }

      // The bot's runner, as the supervisor starts it (its V8 flags, only its environment).
      runner = await startRunner(address);
      const wait = (n: number) =>
        fake.control('waitForMessages', { n, token: tg.token, timeoutMs: 180_000 });
      await wait(MESSAGES);
      // Times on the fake's clock, as it counted each send against its limits.
      const calls = await fake.control<
        Array<{ time: number; ok?: boolean; params: { chat_id?: unknown } }>
      >('calls', { method: 'sendMessage', token: tg.token });
      const accepted = calls
        .filter((c) => c.ok)
        .map((c) => c.time)
        .sort((a, b) => a - b);
      const elapsed = accepted[accepted.length - 1]! - accepted[0]!;
      // Each send waits for the one 30 before it: the mean of those gaps is the real window.
      const gaps = accepted.slice(30).map((t, k) => t - accepted[k]!);
      const meanGapMs = gaps.reduce((a, b) => a + b, 0) / gaps.length;
      if (process.env.BENCH_FANOUT_DUMP)
        writeFileSync(process.env.BENCH_FANOUT_DUMP, JSON.stringify(calls));
      const stats = await fake.control<{ tooManyRequests: number }>('stats');
      // The answer latency the runner saw (its reports feed the api's histogram): each 30 sends
      // wait for it once, so elapsed ≈ 33 × (1000 ms + margin + it).
      const latency = (await sendLatencySeconds.get()).values;
      const sum = latency.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
      const count = latency.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
      const meanLatencyMs = count ? (sum / count) * 1000 : 0;
      // Deliveries that needed a second attempt (a send that failed on the way still counted).
      const retried = await deps.db
        .select({ attempts: deliveries.attempts, lastError: deliveries.lastError })
        .from(deliveries)
        .where(gt(deliveries.attempts, 1));
      await runner.stop();
      runner = undefined;
      await app.close();
      const floor = fanoutFloorMs(MESSAGES, GROUPS);
      return [
        {
          bench: 'fanout',
          metric: `${MESSAGES} notifications to ${GROUPS} groups, one bot (fake, runner, api: 3 processes): first → last accepted (the fake's clock)`,
          value: `${(elapsed / 1000).toFixed(2)} s`,
          note: `floor ${(floor / 1000).toFixed(1)} s (the bot's 30/s binds), ${(
            (elapsed / floor - 1) *
            100
          ).toFixed(
            1,
          )} % over; ${stats.tooManyRequests} × 429; send k → k + 30 on average ${meanGapMs.toFixed(0)} ms, mean answer latency ${meanLatencyMs.toFixed(
            0,
          )} ms; ${retried.length} retried${retried.length ? ` (${[...new Set(retried.map((r) => r.lastError))].join('; ')})` : ''}; load average ${loadavg()[0]!.toFixed(1)}`,
        },
      ];
    } finally {
      await runner?.stop();
      await fake.close();
      await database.close();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  },
};
export default bench;
