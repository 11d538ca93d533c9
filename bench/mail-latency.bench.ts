/**
 * `npm run bench -- mail`: e-mail → Telegram through the real pieces, laid out as in
 * production — a private Dovecot (IMAP APPEND, IDLE); the worker (fetch, parse, one commit
 * with event, rule, notification and delivery) and the api's internal long poll (NOTIFY
 * wake-up, claim) in this process, as `notifypro start` runs them; the bot's runner in its
 * own (the supervisor's process driver); the fake Telegram Bot API in its own — over the
 * machine's PostgreSQL.
 *
 * Latency: MAIL_BENCH_N mails (default 500) appended one at a time, each waited for in
 * Telegram, MAIL_BENCH_GAP_MS (default 20) apart — mail that comes one at a time finds the
 * worker back in IDLE. The floor is measured first, alone, the same way: a bare IDLE client
 * noting when Dovecot announces each mail (EXISTS) — Dovecot's own delay (≈ 500 ms), the
 * least any IDLE client can take. "Above Dovecot" compares the two distributions at p50 and
 * p99. (A probe on the same folder during NotifyPro's run would not be a fair floor: its
 * notification timer is sometimes already running from the worker's own index writes, and
 * it hears of a mail early.) Hops: fetch (DONE + UID FETCH), parse, commit, wake-up + claim + send
 * (commit → the runner process's sendMessage reaching the fake).
 *
 * Burst: MAIL_BENCH_BURST mails (default 10,000) dropped into the maildir while the worker
 * is stopped; the time from the worker's start until all of them are queued as deliveries.
 */
import { randomBytes } from 'node:crypto';
import { chown, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { count, eq } from 'drizzle-orm';
import pg from 'pg';
import { buildApp } from '../server/src/app.js';
import { loadConfig } from '../server/src/config.js';
import { SecretBox } from '../server/src/crypto/secrets.js';
import { connectDatabase } from '../server/src/db/client.js';
import { runMigrations } from '../server/src/db/migrate.js';
import { createLogger } from '../server/src/logger.js';
import { openImapSession } from '../server/src/mail/imap.js';
import type { IngestTiming } from '../server/src/worker/imap-sync.js';
import { startWorker } from '../server/src/worker/service.js';
import { startDovecot } from '../server/test/dovecot.js';
import { botChats, chats, deliveries, events, mailboxes, rules } from '../server/src/db/schema.js';
import { addBenchBot, startFakeProcess } from './harness.js';
import type { Bench, BenchRow } from './run.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const N = Number(process.env.MAIL_BENCH_N ?? 500);
const BURST = Number(process.env.MAIL_BENCH_BURST ?? 10_000);
const GAP_MS = Number(process.env.MAIL_BENCH_GAP_MS ?? 20);
const CHATS = 4; // one private chat gets 1 message/s from Telegram: spread over a few
const SECRET_KEY = 'bench-secret-key-0123456789abcdef0123';

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};
const ms = (v: number) => `${v.toFixed(1)} ms`;

const bench: Bench = {
  name: 'mail',
  async run() {
    const name = `np_bench_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
    const database = connectDatabase(url, 10);
    const workerDb = connectDatabase(url, 5);
    const dovecot = await startDovecot({ ssl: false, users: { bench: 'pw' } });
    const cleanups: Array<() => Promise<unknown>> = [];
    try {
      await runMigrations(database.db);
      const config = loadConfig({
        LOG_LEVEL: 'silent',
        WEB_DIST_DIR: '/nonexistent',
        DATABASE_URL: url,
        MAIL_ALLOW_PRIVATE_HOSTS: 'true',
      });
      const log = createLogger('silent');
      const { app, deps } = await buildApp({ config, db: database.db, secretKey: SECRET_KEY, log });
      await app.ready();
      cleanups.push(() => app.close());
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
      const orgId = signup.json().organization.id as string;
      // As in production: the fake Telegram and the bot's runner each in a process of their
      // own (the supervisor's process driver, the runners' V8 flags); api + worker here, as
      // `notifypro start` runs them.
      const fake = await startFakeProcess();
      cleanups.push(() => fake.close());
      const { bot, tg, startRunner } = await addBenchBot(deps, orgId, fake, 'mail bench');
      for (let c = 0; c < CHATS; c++) {
        const user = await fake.control<{ id: number }>('addUser', {});
        const chat = await fake.control<{ id: number }>('addChat', {
          id: user.id,
          type: 'private',
          firstName: `bench${c}`,
          botTokens: [tg.token],
        });
        const [row] = await deps.db
          .insert(chats)
          .values({ orgId, telegramChatId: chat.id, type: 'private' })
          .returning();
        await deps.db.insert(botChats).values({ orgId, botId: bot.id, chatId: row!.id });
        await deps.db.insert(rules).values({
          orgId,
          name: `chat ${c}`,
          conditions: [{ field: 'subject', op: 'contains', value: `[c${c}]` }],
          targets: [{ chatId: row!.id }],
          template: '{{subject}}',
        });
      }
      const address = await app.listen({ port: 0, host: '127.0.0.1' });
      let runner: { stop(): Promise<void> } | undefined = await startRunner(address);
      cleanups.push(() => runner?.stop() ?? Promise.resolve());
      type Call = { method: string; time: number; params: { text?: string } };
      const sent = () => fake.control<Call[]>('calls', { method: 'sendMessage', token: tg.token });
      const [mb] = await deps.db
        .insert(mailboxes)
        .values({
          orgId,
          name: 'bench',
          protocol: 'imap',
          host: '127.0.0.1',
          port: dovecot.imapPort,
          security: 'none',
          username: 'bench',
          secretEncrypted: new SecretBox(SECRET_KEY).encrypt('pw'),
        })
        .returning();

      const timings = new Map<number, IngestTiming>();
      const startTheWorker = () =>
        startWorker({
          config,
          db: workerDb.db,
          log,
          secrets: deps.secrets,
          leaseMs: 10_000,
          onIngested: (t) => timings.set(Number(t.uid), t),
        });
      // the appending client (its own connection, as a mail server's delivery would be)
      const { ImapFlow } = await import('imapflow');
      const appender = new ImapFlow({
        host: '127.0.0.1',
        port: dovecot.imapPort,
        secure: false,
        doSTARTTLS: false,
        auth: { user: 'bench', pass: 'pw' },
        logger: false,
      });
      appender.on('error', () => {});
      await appender.connect();
      cleanups.push(() => appender.logout().catch(() => {}));
      const pause = () => new Promise((r) => setTimeout(r, GAP_MS));
      const mail = (id: string, subject: string) =>
        `From: bench@example.com\r\nTo: ops@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${id}.${name}@bench>\r\n\r\n${subject}\r\n`;

      // The floor, alone: a bare IDLE client notes when Dovecot announces each mail (EXISTS).
      const probe = await openImapSession({
        host: '127.0.0.1',
        port: dovecot.imapPort,
        security: 'none',
        username: 'bench',
        password: 'pw',
        folder: 'INBOX',
      });
      const announced: number[] = [];
      const probing = (async () => {
        for (;;) {
          const change = await probe.waitForChange({ idleMaxMs: 60_000 }).catch(() => 'closed');
          if (change === 'exists') announced.push(performance.now());
          if (change === 'closed') return;
        }
      })();
      const floor: number[] = [];
      for (let i = 0; i < N; i++) {
        const before = announced.length;
        const t0 = performance.now();
        await appender.append('INBOX', mail(`f${i}`, `floor ${i}`));
        const until = t0 + 5_000;
        while (announced.length === before && performance.now() < until)
          await new Promise((r) => setTimeout(r, 1));
        if (announced.length > before) floor.push(announced[before]! - t0);
        await pause();
      }
      await probe.close();
      await probing;

      // NotifyPro: the worker (baseline at UIDNEXT: the floor's mails are not forwarded)
      let worker = startTheWorker();
      for (;;) {
        const [row] = await deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb!.id));
        if (row?.status === 'ok' && row.uidValidity) break;
        await new Promise((r) => setTimeout(r, 20));
      }

      const rows: Array<{
        append: number;
        total: number;
        ours: number;
        fetch: number;
        parse: number;
        commit: number;
        claim: number;
      }> = [];
      const epoch = performance.timeOrigin;
      // PostgreSQL round trips of everything in this process (worker, api, runner, waker)
      // during the one-at-a-time phase, per mail: what the commit and claim changes cut.
      const clientProto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
      const realQuery = clientProto.query;
      let queries = 0;
      clientProto.query = function (this: unknown, ...a: unknown[]) {
        queries++;
        return realQuery.apply(this, a);
      };
      cleanups.push(async () => {
        clientProto.query = realQuery;
      });
      const skipped: string[] = []; // mails delivered but not measured hop by hop, and why
      for (let i = 0; i < N; i++) {
        const subject = `latency ${i} [c${i % CHATS}]`;
        const t0 = performance.now();
        const appended = await appender.append('INBOX', mail(`l${i}`, subject));
        const t1 = performance.now();
        await fake.control('waitForMessages', { n: i + 1, token: tg.token, timeoutMs: 20_000 });
        const uid = appended ? appended.uid : undefined;
        const timing = uid !== undefined ? timings.get(uid) : undefined;
        const call = (await sent()).find((c) =>
          String(c.params.text ?? '').includes(`latency ${i} `),
        );
        if (!timing || !call) {
          skipped.push(!timing ? 'no worker timing' : 'no sendMessage call');
          continue;
        }
        // the fake's clock (epoch ms, 1 ms steps, another process): when sendMessage arrived
        const received = call.time - epoch;
        rows.push({
          append: t1 - t0,
          total: received - t0,
          ours: received - timing.fetchStartedAt,
          fetch: timing.fetchedAt - timing.fetchStartedAt,
          parse: timing.parsedAt - timing.fetchedAt,
          commit: timing.committedAt - timing.parsedAt,
          claim: received - timing.committedAt,
        });
        await pause();
      }
      clientProto.query = realQuery;

      const col = (key: keyof (typeof rows)[number]) => rows.map((r) => r[key]);
      const p50 = (v: number[]) => quantile(v, 0.5);
      const p99 = (v: number[]) => quantile(v, 0.99);
      const out: BenchRow[] = [
        {
          bench: 'mail',
          metric: `Dovecot alone: APPEND → EXISTS at a bare IDLE client (the floor, n=${floor.length} of ${N})`,
          value: `p50 ${ms(p50(floor))}, p99 ${ms(p99(floor))}`,
          note: `one at a time, ${GAP_MS} ms apart`,
        },
        {
          bench: 'mail',
          metric: `NotifyPro: IMAP APPEND → fake Telegram receipt (n=${rows.length} of ${N})`,
          value: `p50 ${ms(p50(col('total')))}, p99 ${ms(p99(col('total')))}`,
          note: `one at a time, ${GAP_MS} ms apart; APPEND itself p50 ${ms(p50(col('append')))}${skipped.length ? `; not measured: ${[...new Set(skipped)].map((r) => `${skipped.filter((x) => x === r).length}× ${r}`).join(', ')}` : ''}`,
        },
        {
          bench: 'mail',
          metric: 'NotifyPro above Dovecot (p50 − p50, p99 − p99)',
          value: `p50 +${ms(p50(col('total')) - p50(floor))}, p99 +${ms(p99(col('total')) - p99(floor))}`,
          note: 'goal: ≤ 10 ms p50, ≤ 50 ms p99',
        },
        {
          bench: 'mail',
          metric: 'NotifyPro alone (its IDLE connection woken → fake Telegram receipt)',
          value: `p50 ${ms(p50(col('ours')))}, p99 ${ms(p99(col('ours')))}`,
        },
        {
          bench: 'mail',
          metric: 'PostgreSQL round trips per mail (worker + api + runner, one at a time)',
          value: (queries / Math.max(1, N)).toFixed(1),
          note: `${queries} queries for ${N} mails`,
        },
      ];
      for (const [key, label] of [
        ['fetch', 'hop: fetch (DONE + one UID FETCH; NOOP + list + bodies for a backlog)'],
        ['parse', 'hop: parse (mailparser)'],
        ['commit', 'hop: commit (event + rules + notification + delivery + cursor, one tx)'],
        [
          'claim',
          'hop: wake-up, claim, send (NOTIFY → long poll → the runner process → sendMessage at the fake)',
        ],
      ] as const)
        out.push({
          bench: 'mail',
          metric: label,
          value: `p50 ${ms(p50(col(key)))}, p99 ${ms(p99(col(key)))}`,
        });

      // burst: the runner stops (nothing is sent), the worker stops, mail piles up
      await runner.stop();
      runner = undefined;
      await worker.stop();
      const maildir = path.join(dovecot.dir, 'mail', 'bench', 'Maildir');
      for (const sub of ['tmp', 'new']) {
        await mkdir(path.join(maildir, sub), { recursive: true });
        await chown(path.join(maildir, sub), 65534, 65534);
      }
      for (let i = 0; i < BURST; i++) {
        const file = `${Date.now()}.B${i}.bench`;
        const raw = `From: burst@example.com\r\nTo: ops@example.com\r\nSubject: burst ${i} [c${i % CHATS}]\r\nMessage-ID: <b${i}.${name}@bench>\r\n\r\nburst body ${i}\r\n`;
        await writeFile(path.join(maildir, 'tmp', file), raw);
        await chown(path.join(maildir, 'tmp', file), 65534, 65534);
        await rename(path.join(maildir, 'tmp', file), path.join(maildir, 'new', file));
      }
      const [{ n: queuedBefore } = { n: 0 }] = await deps.db
        .select({ n: count() })
        .from(deliveries)
        .where(eq(deliveries.status, 'queued'));
      timings.clear();
      const burstStart = performance.now();
      worker = startTheWorker();
      cleanups.push(() => worker.stop());
      let queued = 0;
      const deadline = burstStart + 300_000;
      while (performance.now() < deadline) {
        const [row] = await deps.db
          .select({ n: count() })
          .from(deliveries)
          .where(eq(deliveries.status, 'queued'));
        queued = (row?.n ?? 0) - queuedBefore;
        if (queued >= BURST) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const burstSeconds = (performance.now() - burstStart) / 1000;
      const firstFetch = Math.min(...[...timings.values()].map((x) => x.fetchStartedAt));
      const [stored] = await deps.db
        .select({ n: count() })
        .from(events)
        .where(eq(events.mailboxId, mb!.id));
      out.push({
        bench: 'mail',
        metric: `burst of ${BURST} mails: worker start → all queued`,
        value: `${burstSeconds.toFixed(1)} s (${Math.round(queued / burstSeconds)} mails/s)`,
        note: `${queued} deliveries queued, ${stored?.n ?? 0} events in all; first fetch ${((firstFetch - burstStart) / 1000).toFixed(1)} s after start (connect + Dovecot indexing the new files); goal: within 30 s`,
      });
      return out;
    } finally {
      for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
      await workerDb.close();
      await database.close();
      await dovecot.destroy();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  },
};
export default bench;
