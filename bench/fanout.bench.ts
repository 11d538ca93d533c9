/**
 * `npm run bench -- fanout`: 1,000 notifications to 50 groups (20 each, accepted round-robin)
 * through one bot — the api's outbox and long poll over the machine's PostgreSQL, the runner's
 * delivery loop (startDeliveryLoop with its default limits) and the fake Telegram with its real
 * limits (30 per 1000 ms per bot, per chat a burst of 3 then 1/s, 20 per 60 s per group). The
 * figure: from the loop's start (everything already queued) until the fake has accepted all
 * 1,000, against the floor those limits allow, and the 429s answered.
 *
 * The floor: 20 per group never meets the 20/min group limit, and 50 chats at 1/s each could
 * take 50/s, so the bot's 30 per second binds: message k can go at ⌊k/30⌋ s at the earliest,
 * the 1,000th (k = 999) at 33 s. (Per chat: 3 at once + 17 at 1/s = 17 s, below that.)
 */
import { randomBytes } from 'node:crypto';
import { Api } from 'grammy';
import pg from 'pg';
import { buildApp } from '../server/src/app.js';
import { loadConfig } from '../server/src/config.js';
import { hashToken } from '../server/src/crypto/secrets.js';
import { connectDatabase } from '../server/src/db/client.js';
import { runMigrations } from '../server/src/db/migrate.js';
import { botChats, bots, chats } from '../server/src/db/schema.js';
import { createLogger } from '../server/src/logger.js';
import { createRunnerApi } from '../server/src/runner/internal-api.js';
import { startDeliveryLoop } from '../server/src/runner/sender.js';
import { startFakeTelegram } from '../server/test/fake-telegram/server.js';
import type { Bench } from './run.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const GROUPS = 50;
const MESSAGES = 1_000;
const quiet = { warn: () => {}, error: () => {}, info: () => {} };

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
    const fake = await startFakeTelegram({ port: 0 });
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
      const tg = fake.addBot({});
      const runnerToken = `npr_bench_${randomBytes(12).toString('hex')}`;
      const [bot] = await deps.db
        .insert(bots)
        .values({
          orgId,
          name: 'fanout',
          telegramId: tg.id,
          tokenEncrypted: deps.secrets.encrypt(tg.token),
          tokenHint: 'x',
          status: 'running',
          runnerTokenHash: hashToken(runnerToken),
        })
        .returning();
      const chatIds: string[] = [];
      for (let g = 0; g < GROUPS; g++) {
        const chat = fake.addChat({ type: 'group', title: `g${g}`, botTokens: [tg.token] });
        const [row] = await deps.db
          .insert(chats)
          .values({ orgId, telegramChatId: chat.id, type: 'group', title: `g${g}` })
          .returning();
        await deps.db.insert(botChats).values({ orgId, botId: bot!.id, chatId: row!.id });
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

      const started = performance.now();
      const loop = startDeliveryLoop({
        internalApi: createRunnerApi(address, runnerToken),
        botApi: new Api(tg.token, { apiRoot: fake.apiRoot }),
        log: quiet,
      });
      await fake.waitForMessages(MESSAGES, { token: tg.token, timeoutMs: 180_000 });
      const elapsed = performance.now() - started;
      await loop.stop();
      await app.close();
      const floor = fanoutFloorMs(MESSAGES, GROUPS);
      const stats = fake.stats();
      return [
        {
          bench: 'fanout',
          metric: `${MESSAGES} notifications to ${GROUPS} groups, one bot: loop start → all accepted`,
          value: `${(elapsed / 1000).toFixed(2)} s`,
          note: `floor ${(floor / 1000).toFixed(1)} s (the bot's 30/s binds), ${(
            (elapsed / floor - 1) *
            100
          ).toFixed(1)} % over; ${stats.tooManyRequests} × 429`,
        },
      ];
    } finally {
      await fake.close();
      await database.close();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  },
};
export default bench;
