/**
 * `npm run bench -- retention`: the worker's retention over the machine's real PostgreSQL.
 * RETENTION_BENCH_N (default 100,000) old rows of each kind — events with 2 KB of raw mail,
 * notifications with one sent delivery each, log rows — beside a tenth as many recent ones
 * that must stay; then each kind is deleted alone with the default batch (5,000 rows per
 * statement) while a concurrent client keeps enqueueing notifications (one transaction each,
 * as the api does), whose latency shows what the deletes cost everyone else.
 * RETENTION_BENCH_BATCH overrides RETENTION_BATCH_SIZE.
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { loadConfig } from '../server/src/config.js';
import { connectDatabase, type Database } from '../server/src/db/client.js';
import { runMigrations } from '../server/src/db/migrate.js';
import { enqueueNotification } from '../server/src/modules/notifications/service.js';
import { applyRetention } from '../server/src/worker/retention.js';
import type { Bench, BenchRow } from './run.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const N = Number(process.env.RETENTION_BENCH_N ?? 100_000);

const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;

/** Enqueues notifications one transaction at a time until stopped; returns their latencies. */
function concurrentWriter(db: Database, orgId: string, chatId: string, botId: string) {
  let stop = false;
  const latencies: number[] = [];
  const done = (async () => {
    while (!stop) {
      const t0 = performance.now();
      await db.transaction((tx) =>
        enqueueNotification(tx, orgId, {
          source: 'api',
          text: 'live',
          format: 'text',
          targets: [{ chatId, botId }],
        }),
      );
      latencies.push(performance.now() - t0);
    }
  })();
  return {
    async stop() {
      stop = true;
      await done;
      return latencies.sort((a, b) => a - b);
    },
  };
}

const bench: Bench = {
  name: 'retention',
  async run(): Promise<BenchRow[]> {
    const name = `np_bench_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const database = connectDatabase(ADMIN_URL.replace(/\/[^/]*$/, `/${name}`), 6);
    const rows: BenchRow[] = [];
    try {
      const { db } = database;
      await runMigrations(db);
      const one = async <T>(q: ReturnType<typeof sql>) => (await db.execute(q)).rows[0] as T;
      const { id: orgId } = await one<{ id: string }>(
        sql`insert into organizations (name) values ('Bench') returning id`,
      );
      const { id: botId } = await one<{ id: string }>(sql`
        insert into bots (org_id, name, telegram_id, token_encrypted, token_hint, status)
        values (${orgId}, 'b', 1, 'x', 'x', 'running') returning id`);
      const { id: chatId } = await one<{ id: string }>(sql`
        insert into chats (org_id, telegram_chat_id, type) values (${orgId}, 1, 'private') returning id`);
      await db.execute(
        sql`insert into bot_chats (org_id, bot_id, chat_id) values (${orgId}, ${botId}, ${chatId})`,
      );
      const recent = Math.max(1, Math.floor(N / 10));
      const fill = async (count: number, ageDays: number) => {
        const at = sql`now() - make_interval(days => ${ageDays}) + (g * interval '1 second')`;
        await db.execute(sql`
          insert into events (org_id, source, subject, raw, received_at, created_at)
          select ${orgId}, 'mail', 'subject ' || g, convert_to(repeat('x', 2048), 'UTF8'), ${at}, ${at}
          from generate_series(1, ${count}) g`);
        await db.execute(sql`
          with n as (
            insert into notifications (org_id, source, text, created_at)
            select ${orgId}, 'api', 'text ' || g, ${at} from generate_series(1, ${count}) g
            returning id, created_at)
          insert into deliveries (org_id, notification_id, chat_id, bot_id, status, created_at, updated_at, sent_at)
          select ${orgId}, id, ${chatId}, ${botId}, 'sent', created_at, created_at, created_at from n`);
        await db.execute(sql`
          insert into logs (org_id, level, source, message, created_at)
          select ${orgId}, 'info', 'bench', 'log ' || g, ${at} from generate_series(1, ${count}) g`);
      };
      const f0 = performance.now();
      await fill(N, 200);
      await fill(recent, 1);
      await db.execute(sql`vacuum analyze`);
      const fillMs = performance.now() - f0;

      const none = loadConfig({
        DATABASE_URL: 'postgres://x@127.0.0.1/x',
        ...(process.env.RETENTION_BENCH_BATCH
          ? { RETENTION_BATCH_SIZE: process.env.RETENTION_BENCH_BATCH }
          : {}),
      }).retention;
      const off = {
        ...none,
        rawMailDays: 0,
        eventDays: 0,
        deliveryDays: 0,
        notificationDays: 0,
        logDays: 0,
        telegramUpdateDays: 0,
        auditLogDays: 0,
        alertDays: 0,
      };
      // idle baseline of the concurrent writer
      const idle = concurrentWriter(db, orgId, chatId, botId);
      await new Promise((r) => setTimeout(r, 3_000));
      const base = await idle.stop();
      rows.push({
        bench: 'retention',
        metric: 'concurrent enqueue, no retention running',
        value: `p50 ${pct(base, 50).toFixed(1)} ms, p99 ${pct(base, 99).toFixed(1)} ms`,
        note: `${base.length} transactions`,
      });
      for (const [kind, settings] of [
        ['rawMail', { ...off, rawMailDays: 30 }],
        ['deliveries', { ...off, deliveryDays: 90 }],
        ['notifications', { ...off, notificationDays: 90 }],
        ['events', { ...off, eventDays: 90 }],
        ['logs', { ...off, logDays: 30 }],
      ] as const) {
        const writer = concurrentWriter(db, orgId, chatId, botId);
        const t0 = performance.now();
        const figures = await applyRetention(db, settings);
        const ms = performance.now() - t0;
        const lat = await writer.stop();
        const n = figures[kind] ?? 0;
        const statements = Math.ceil(n / settings.batchSize) + 1;
        rows.push({
          bench: 'retention',
          metric: `${kind}: ${n.toLocaleString('en')} old rows (${recent.toLocaleString('en')} recent kept)`,
          value: `${Math.round(n / (ms / 1000)).toLocaleString('en')} rows/s, ${(ms / statements).toFixed(0)} ms per ${settings.batchSize}-row statement`,
          note: `concurrent enqueue p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${pct(lat, 100).toFixed(0)} ms (${lat.length} tx)`,
        });
        if (n !== N) throw new Error(`${kind}: expected ${N} rows, got ${n}`);
      }
      const left = await one<{ e: number; d: number; l: number }>(sql`
        select (select count(*)::int from events) as e,
          (select count(*)::int from deliveries where status = 'sent' and created_at < now() - interval '2 days') as d,
          (select count(*)::int from logs) as l`);
      if (left.e !== recent || left.d !== 0 || left.l !== recent)
        throw new Error(`left behind: ${JSON.stringify(left)}`);
      rows.push({
        bench: 'retention',
        metric: 'setup',
        value: `${Math.round(fillMs)} ms`,
        note: `${N.toLocaleString('en')} + ${recent.toLocaleString('en')} rows per kind; 2 KB raw mail per event`,
      });
    } finally {
      await database.close();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
    return rows;
  },
};
export default bench;
