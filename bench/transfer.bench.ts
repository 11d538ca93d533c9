/**
 * `npm run bench -- transfer`: export and import of one large organization over the
 * machine's real PostgreSQL. TRANSFER_BENCH_SCALE (default 1) times 20 bots, 2,000 chats
 * (each linked to two bots), 200 mailboxes, 200 webhooks, 1,000 rules (two targets, a source,
 * two conditions each) and 20 members, seeded straight into a fresh database; then: export
 * without and with a passphrase, import into a second fresh database as a new org (with the
 * secrets), and the same import again into that org (which must change nothing).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig } from '../server/src/config.js';
import { SecretBox } from '../server/src/crypto/secrets.js';
import { connectDatabase, type DatabaseHandle } from '../server/src/db/client.js';
import { runMigrations } from '../server/src/db/migrate.js';
import {
  botChats,
  bots,
  chats,
  mailboxes,
  memberships,
  organizations,
  rules,
  users,
  webhooks,
} from '../server/src/db/schema.js';
import { createLogger } from '../server/src/logger.js';
import { exportOrganization, importOrganization } from '../server/src/modules/transfer/service.js';
import type { Bench, BenchRow } from './run.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SCALE = Number(process.env.TRANSFER_BENCH_SCALE ?? 1);
const passphrase = 'bench passphrase, long enough';
const actor = { type: 'system' as const, id: null, label: 'bench', ip: null };

async function freshDatabase(admin: pg.Client): Promise<DatabaseHandle & { name: string }> {
  const name = `np_bench_${randomBytes(4).toString('hex')}`;
  await admin.query(`create database ${name}`);
  const handle = connectDatabase(ADMIN_URL.replace(/\/[^/]*$/, `/${name}`), 6);
  await runMigrations(handle.db);
  return { ...handle, name };
}

/** Inserts in chunks (a single INSERT has a parameter limit). */
async function insertAll<T>(rows: T[], insert: (chunk: T[]) => Promise<unknown>) {
  for (let i = 0; i < rows.length; i += 500) await insert(rows.slice(i, i + 500));
}

async function seed(database: DatabaseHandle, secrets: SecretBox): Promise<string> {
  const { db } = database;
  const [org] = await db.insert(organizations).values({ name: 'Bench org' }).returning();
  const orgId = org!.id;
  const n = (k: number) => Math.round(k * SCALE);
  const userRows = await db
    .insert(users)
    .values(
      Array.from({ length: n(20) }, (_, i) => ({
        email: `member-${i}@bench.test`,
        name: `Member ${i}`,
        passwordHash: 'not-a-real-hash',
      })),
    )
    .returning();
  await db
    .insert(memberships)
    .values(
      userRows.map((u, i) => ({ orgId, userId: u.id, role: i === 0 ? 'owner' : 'operator' })),
    );
  const botRows = await db
    .insert(bots)
    .values(
      Array.from({ length: n(20) }, (_, i) => ({
        orgId,
        name: `Bot ${i}`,
        username: `bench_${i}_bot`,
        telegramId: 7_000_000_000 + i + Math.floor(Math.random() * 1e6) * 100,
        tokenEncrypted: secrets.encrypt(`${7_000_000 + i}:bench-token-${i}`),
        tokenHint: '…bench',
        enabled: false,
      })),
    )
    .returning();
  const chatRows: Array<typeof chats.$inferSelect> = [];
  await insertAll(
    Array.from({ length: n(2000) }, (_, i) => ({
      orgId,
      telegramChatId: -1_000_000_000_000 - i,
      type: 'supergroup' as const,
      title: `Chat ${i}`,
    })),
    async (chunk) => chatRows.push(...(await db.insert(chats).values(chunk).returning())),
  );
  await insertAll(
    chatRows.flatMap((c, i) =>
      [0, 1].map((k) => ({ orgId, chatId: c.id, botId: botRows[(i + k) % botRows.length]!.id })),
    ),
    (chunk) => db.insert(botChats).values(chunk),
  );
  const mailboxRows = await db
    .insert(mailboxes)
    .values(
      Array.from({ length: n(200) }, (_, i) => ({
        orgId,
        name: `Mailbox ${i}`,
        protocol: 'imap' as const,
        host: '127.0.0.1',
        port: 993,
        security: 'tls' as const,
        username: `box-${i}@bench.test`,
        secretEncrypted: secrets.encrypt(`password-${i}`),
        enabled: false,
      })),
    )
    .returning();
  const webhookRows = await db
    .insert(webhooks)
    .values(
      Array.from({ length: n(200) }, (_, i) => ({
        orgId,
        name: `Webhook ${i}`,
        token: `nph_bench${randomBytes(12).toString('hex')}`,
        hmacSecretEncrypted: i % 2 ? secrets.encrypt(`hmac-secret-${i}`) : null,
      })),
    )
    .returning();
  await insertAll(
    Array.from({ length: n(1000) }, (_, i) => ({
      orgId,
      name: `Rule ${i % 400}`, // names repeat, as they may
      priority: i,
      sources:
        i % 2
          ? { mailboxIds: [mailboxRows[i % mailboxRows.length]!.id] }
          : { webhookIds: [webhookRows[i % webhookRows.length]!.id] },
      conditions: [
        { field: 'subject', op: 'contains', value: `order ${i}` },
        { field: 'from', op: 'equals', value: `shop-${i}@bench.test` },
      ],
      targets: [
        { chatId: chatRows[i % chatRows.length]!.id, botId: botRows[i % botRows.length]!.id },
        { chatId: chatRows[(i * 7) % chatRows.length]!.id },
      ],
      template: '<b>{{subject}}</b>',
    })),
    (chunk) => db.insert(rules).values(chunk),
  );
  return orgId;
}

const bench: Bench = {
  name: 'transfer',
  async run(): Promise<BenchRow[]> {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    const secrets = new SecretBox('bench-secret-key-0123456789abcdef0123456789');
    const config = loadConfig({ LOG_LEVEL: 'silent', MAIL_ALLOW_PRIVATE_HOSTS: 'true' });
    const log = createLogger('silent');
    const source = await freshDatabase(admin);
    const target = await freshDatabase(admin);
    const rows: BenchRow[] = [];
    const row = (metric: string, value: string, note?: string) =>
      rows.push({ bench: 'transfer', metric, value, ...(note ? { note } : {}) });
    const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
      const t0 = performance.now();
      const value = await fn();
      return [value, performance.now() - t0];
    };
    try {
      const orgId = await seed(source, secrets);
      const [plain, plainMs] = await timed(() =>
        exportOrganization({ db: source.db, secrets }, orgId),
      );
      const [sealed, sealedMs] = await timed(() =>
        exportOrganization({ db: source.db, secrets }, orgId, { passphrase }),
      );
      const size = Buffer.byteLength(JSON.stringify(sealed));
      const what = `${sealed.bots.length} bots, ${sealed.chats.length} chats, ${sealed.mailboxes.length} mailboxes, ${sealed.webhooks.length} webhooks, ${sealed.rules.length} rules, ${sealed.members.length} members`;
      row('export, no secrets', `${plainMs.toFixed(0)} ms`, what);
      row('export with passphrase', `${sealedMs.toFixed(0)} ms`, 'scrypt N=2^15 r=8 + AES-256-GCM');
      row(
        'document size',
        `${(size / 1024).toFixed(0)} KiB`,
        `${(Buffer.byteLength(JSON.stringify(plain)) / 1024).toFixed(0)} KiB without secrets`,
      );
      const deps = { db: target.db, secrets, config, log };
      const [first, firstMs] = await timed(() =>
        importOrganization(deps, { newOrg: {} }, sealed, { passphrase, actor }),
      );
      row(
        'import into a fresh database',
        `${firstMs.toFixed(0)} ms`,
        `one transaction; includes ${first.temporaryPasswords.length} argon2 hashes for new accounts`,
      );
      const [second, secondMs] = await timed(() =>
        importOrganization(deps, { orgId: first.orgId }, sealed, { passphrase, actor }),
      );
      const changed = Object.entries(second.summary)
        .filter(([k]) => k !== 'organization')
        .reduce(
          (s, [, c]) =>
            s +
            (c as { created: number; updated: number }).created +
            (c as { updated: number }).updated,
          0,
        );
      row(
        'import again (unchanged)',
        `${secondMs.toFixed(0)} ms`,
        `${changed} rows created or updated`,
      );
    } finally {
      await source.close();
      await target.close();
      await admin.query(`drop database if exists ${source.name} with (force)`);
      await admin.query(`drop database if exists ${target.name} with (force)`);
      await admin.end();
    }
    return rows;
  },
};

export default bench;
