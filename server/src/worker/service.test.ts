import { chown, mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { startDeliveryKit, type DeliveryKit } from '../../test/delivery-kit.js';
import { startDovecot, type DovecotServer } from '../../test/dovecot.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { connectDatabase, type DatabaseHandle } from '../db/client.js';
import { events, logs, mailboxes, pop3SeenUids } from '../db/schema.js';
import { pino } from 'pino';
import { openImapSession } from '../mail/imap.js';
import { startWorker, type WorkerHandle } from './service.js';

let dovecot: DovecotServer;
let t: TestApp;
let owner: SignedUp;
let kit: DeliveryKit;
let workerDb: DatabaseHandle;
let worker: WorkerHandle;
let userSeq = 0;
const traceLines: string[] = [];

beforeAll(async () => {
  dovecot = await startDovecot({ ssl: false });
  t = await createTestApp({ MAIL_ALLOW_PRIVATE_HOSTS: 'true' });
  owner = await signup(t);
  kit = await startDeliveryKit(t, owner.orgId, { chats: 1 });
  await kit.addRule();
  // the worker has its own pool, as its own process would
  workerDb = connectDatabase(t.database.url, 5);
  worker = startWorker({
    config: t.config,
    db: workerDb.db,
    // trace: the IMAP commands are in it (the IDLE re-issue test reads them)
    log: pino({ level: 'trace' }, { write: (line: string) => void traceLines.push(line) }),
    secrets: t.deps.secrets,
    leaseMs: 3_000,
    scanMs: 200,
    backoff: { initialMs: 100, maxMs: 500 },
    idleMaxMs: 1_000, // IDLE is re-issued every second here (25 minutes by default)
  });
}, 60_000);
afterAll(async () => {
  await worker?.stop();
  await workerDb?.close();
  await kit?.close();
  await t?.close();
  await dovecot?.destroy();
});

const mail = (subject: string, extra = '') =>
  `From: alerts@example.com\r\nTo: ops@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@t>\r\n${extra}\r\nbody of ${subject}\r\n`;

async function newMailbox(
  protocol: 'imap' | 'pop3',
  overrides: Partial<typeof mailboxes.$inferInsert> = {},
  /** Mail already there when the mailbox is added (the worker may claim it at once). */
  existing: string[] = [],
) {
  const user = `w${++userSeq}`;
  await dovecot.addUser(user, 'pw');
  for (const raw of existing) await dovecot.append(user, raw);
  const [mb] = await t.deps.db
    .insert(mailboxes)
    .values({
      orgId: owner.orgId,
      name: `${protocol} ${user}`,
      protocol,
      host: '127.0.0.1',
      port: protocol === 'imap' ? dovecot.imapPort : dovecot.pop3Port,
      security: 'none',
      username: user,
      secretEncrypted: t.deps.secrets.encrypt('pw'),
      pollIntervalSeconds: 1,
      ...overrides,
    })
    .returning();
  return { user, mb: mb! };
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const row = async (id: string) =>
  (await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, id)))[0];
/** The watcher is connected and has its baseline. */
const connected = (id: string) =>
  until('the watcher to connect', async () => {
    const r = await row(id);
    return r?.status === 'ok' && r.uidValidity && r;
  });
const texts = () => kit.fake.messages({ chatId: kit.telegramChatIds[0] }).map((m) => m.plainText);
const delivered = (subject: string, timeoutMs = 15_000) =>
  until(`"${subject}" in Telegram`, async () => texts().includes(subject), timeoutMs);
const eventsOf = (mailboxId: string) =>
  t.deps.db.select().from(events).where(eq(events.mailboxId, mailboxId));

/** Puts a message straight into the user's maildir, as a delivery agent would with IMAP down. */
async function dropIntoMaildir(user: string, raw: string, seq: number) {
  const maildir = path.join(dovecot.dir, 'mail', user, 'Maildir');
  for (const sub of ['', 'tmp', 'new', 'cur']) {
    await mkdir(path.join(maildir, sub), { recursive: true });
    await chown(path.join(maildir, sub), 65534, 65534);
  }
  const name = `${Date.now()}.M${seq}P${process.pid}.test`;
  await writeFile(path.join(maildir, 'tmp', name), raw);
  await chown(path.join(maildir, 'tmp', name), 65534, 65534);
  await rename(path.join(maildir, 'tmp', name), path.join(maildir, 'new', name));
}

describe('worker', () => {
  it('IMAP IDLE: a mail appended reaches the chat in Telegram, once, and stays unread', async () => {
    // the baseline: not sent
    const { user, mb } = await newMailbox('imap', {}, [mail('before the watcher')]);
    await worker.rescan();
    await connected(mb.id);
    expect(worker.watching()).toContain(mb.id);
    await dovecot.append(user, mail('idle one'));
    await delivered('idle one');
    const stored = await eventsOf(mb.id);
    expect(stored.map((e) => e.subject)).toEqual(['idle one']);
    expect(texts()).not.toContain('before the watcher');
    const after = (await row(mb.id))!;
    expect(after.lastMessageAt).not.toBeNull();
    expect(after.lastError).toBeNull();
    // never marked read
    const probe = await openImapSession({
      host: '127.0.0.1',
      port: dovecot.imapPort,
      security: 'none',
      username: user,
      password: 'pw',
      folder: 'INBOX',
    });
    const flags: string[][] = [];
    for await (const m of probe.fetchSince(0)) flags.push(m.flags ?? []);
    await probe.close();
    expect(flags).toHaveLength(2);
    expect(flags.every((f) => !f.includes('\\Seen'))).toBe(true);
  });

  it('re-issues IDLE (after idleMaxMs) and still gets the next mail at once', async () => {
    const { user, mb } = await newMailbox('imap');
    await worker.rescan();
    await connected(mb.id);
    await new Promise((r) => setTimeout(r, 2_500)); // two IDLE rounds end and start again
    await dovecot.append(user, mail('after idle rounds'));
    await delivered('after idle rounds', 5_000);
    const idles = traceLines.filter(
      (l) => l.includes(`"mailboxId":"${mb.id}"`) && /"msg":"\w+ IDLE"/.test(l),
    );
    expect(idles.length).toBeGreaterThanOrEqual(3);
  });

  it('falls back to polling at the interval when the server offers no IDLE', async () => {
    const noIdle = await startDovecot({
      ssl: false,
      users: { plain: 'pw' },
      extraConfig: 'imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS',
    });
    try {
      const { mb } = await newMailbox('imap', { port: noIdle.imapPort, username: 'plain' });
      await worker.rescan();
      await connected(mb.id);
      await noIdle.append('plain', mail('polled without idle'));
      await delivered('polled without idle');
      const mine = traceLines.filter((l) => l.includes(`"mailboxId":"${mb.id}"`));
      expect(mine.some((l) => /"msg":"\w+ IDLE"/.test(l))).toBe(false);
      expect(mine.filter((l) => /"msg":"\w+ NOOP"/.test(l)).length).toBeGreaterThanOrEqual(2);
      await t.deps.db.delete(mailboxes).where(eq(mailboxes.id, mb.id));
    } finally {
      await noIdle.destroy();
    }
  });

  it('marks mail \\Seen when the mailbox asks, and polls in poll mode', async () => {
    const { user, mb } = await newMailbox('imap', { markSeen: true, mode: 'poll' });
    await worker.rescan();
    await connected(mb.id);
    await dovecot.append(user, mail('polled and seen'));
    await delivered('polled and seen');
    const seen = await until('the \\Seen flag', async () => {
      const probe = await openImapSession({
        host: '127.0.0.1',
        port: dovecot.imapPort,
        security: 'none',
        username: user,
        password: 'pw',
        folder: 'INBOX',
      });
      const flags: string[][] = [];
      for await (const m of probe.fetchSince(0)) flags.push(m.flags ?? []);
      await probe.close();
      return flags.length === 1 && flags[0]!.includes('\\Seen') && flags;
    });
    expect(seen).toHaveLength(1);
  });

  it('a malformed message is recorded with its error and logged; the next one still flows', async () => {
    const { user, mb } = await newMailbox('imap');
    await worker.rescan();
    await connected(mb.id);
    await dovecot.append(user, Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x02, 0x03, 0x0a, 0x0d, 0x00]));
    // U+0000 cannot be stored in PostgreSQL text: it never reaches it, the mail still goes
    await dovecot.append(
      user,
      Buffer.from(
        'From: a@example.com\r\nSubject: nul\x00 inside\r\n\r\nbody \x00 with a NUL\r\n',
        'latin1',
      ),
    );
    await dovecot.append(user, mail('after the broken one'));
    await until('the NUL mail in Telegram', async () =>
      texts().some((x) => /^nul.? inside$/.test(x)),
    );
    await delivered('after the broken one');
    const stored = await eventsOf(mb.id);
    expect(stored).toHaveLength(3);
    const nul = stored.find((e) => e.subject?.startsWith('nul'));
    expect(nul?.error).toBeNull();
    expect((nul?.payload as { text?: string }).text).toMatch(/^body .? with a NUL/);
    const broken = stored.find((e) => e.error);
    expect(broken?.error).toMatch(/cannot parse/);
    expect(broken?.matchedRuleIds).toEqual([]);
    const logged = await t.deps.db
      .select()
      .from(logs)
      .where(and(eq(logs.orgId, owner.orgId), eq(logs.source, 'mail')));
    expect(logged.some((l) => /could not be parsed/.test(l.message))).toBe(true);
  });

  it('a mail with a 3,000-character Message-ID is forwarded (kept at 998, still deduplicated)', async () => {
    const { user, mb } = await newMailbox('imap');
    await worker.rescan();
    await connected(mb.id);
    const id = `<${'x'.repeat(3_000)}@example.com>`;
    const raw = (subject: string) =>
      `From: a@example.com\r\nSubject: ${subject}\r\nMessage-ID: ${id}\r\n\r\nbody\r\n`;
    await dovecot.append(user, raw('long message id'));
    await delivered('long message id');
    await dovecot.append(user, raw('long message id again'));
    await until('the copy recorded', async () => (await eventsOf(mb.id)).length === 2);
    const stored = await eventsOf(mb.id);
    expect(stored.every((e) => e.error === null && e.messageId?.length === 998)).toBe(true);
    // the same Message-ID again: recorded, matched once
    expect(texts().filter((x) => x.startsWith('long message id'))).toEqual(['long message id']);
  });

  it('Dovecot down while mail keeps arriving: status error, then every message delivered exactly once', async () => {
    const { user, mb } = await newMailbox('imap');
    await worker.rescan();
    await connected(mb.id);
    await dovecot.append(user, mail('outage 0'));
    await delivered('outage 0');

    await dovecot.stop();
    for (let i = 1; i <= 5; i++) await dropIntoMaildir(user, mail(`outage ${i}`), i);
    const down = await until('status error', async () => {
      const r = await row(mb.id);
      return r?.status === 'error' && r;
    });
    expect(down.lastError).toMatch(/127\.0\.0\.1/);
    await dovecot.start();
    for (let i = 1; i <= 5; i++) await delivered(`outage ${i}`);
    await connected(mb.id);
    // one more after the reconnect: IDLE again
    await dovecot.append(user, mail('outage after'));
    await delivered('outage after');
    const subjects = (await eventsOf(mb.id)).map((e) => e.subject).sort();
    expect(subjects).toEqual(
      [
        'outage 0',
        'outage 1',
        'outage 2',
        'outage 3',
        'outage 4',
        'outage 5',
        'outage after',
      ].sort(),
    );
    for (const s of subjects) expect(texts().filter((x) => x === s)).toHaveLength(1);
    const logged = await t.deps.db.select().from(logs).where(eq(logs.orgId, owner.orgId));
    const mine = logged.filter((l) => (l.context as { mailboxId?: string }).mailboxId === mb.id);
    expect(mine.some((l) => /connection failed/.test(l.message))).toBe(true);
    expect(mine.some((l) => /connected again/.test(l.message))).toBe(true);
    // one log row for the outage, not one per retry
    expect(mine.filter((l) => /connection failed/.test(l.message)).length).toBeLessThanOrEqual(2);
  }, 60_000);

  it('POP3: baseline, then new mail by UIDL, delivered once, left on the server', async () => {
    const { user, mb } = await newMailbox('pop3', {}, [mail('pop old')]);
    await worker.rescan();
    await connected(mb.id);
    await dovecot.append(user, mail('pop one'));
    await dovecot.append(user, mail('pop two'));
    await delivered('pop one');
    await delivered('pop two');
    // a few more polls: nothing is sent again
    const polled = (await row(mb.id))!.lastCheckedAt!.getTime();
    await until(
      'two more polls',
      async () => (await row(mb.id))!.lastCheckedAt!.getTime() > polled + 1500,
    );
    expect((await eventsOf(mb.id)).map((e) => e.subject).sort()).toEqual(['pop one', 'pop two']);
    expect(texts().filter((x) => x === 'pop one')).toHaveLength(1);
    expect(texts()).not.toContain('pop old');
    expect((await dovecot.mailboxStatus(user)).messages).toBe(3);
    const polledOk = (await row(mb.id))!;
    expect(polledOk.status).toBe('ok');
    expect(polledOk.lastError).toBeNull();
    const seen = await t.deps.db
      .select()
      .from(pop3SeenUids)
      .where(eq(pop3SeenUids.mailboxId, mb.id));
    expect(seen).toHaveLength(3);
  });

  it('POP3: a first poll that fails to log in takes no baseline; mail there before the first good login is not sent', async () => {
    const { user, mb } = await newMailbox(
      'pop3',
      { secretEncrypted: t.deps.secrets.encrypt('wrong') },
      [mail('pop before login')],
    );
    await worker.rescan();
    await until('status error', async () => (await row(mb.id))?.status === 'error');
    await t.deps.db
      .update(mailboxes)
      .set({ secretEncrypted: t.deps.secrets.encrypt('pw'), updatedAt: new Date() })
      .where(eq(mailboxes.id, mb.id));
    await connected(mb.id);
    await dovecot.append(user, mail('pop after login'));
    await delivered('pop after login');
    expect(texts()).not.toContain('pop before login');
    expect((await eventsOf(mb.id)).map((e) => e.subject)).toEqual(['pop after login']);
  });

  it('a wrong password: status error with a clear message and an error log row', async () => {
    const { mb } = await newMailbox('imap', { secretEncrypted: t.deps.secrets.encrypt('wrong') });
    await worker.rescan();
    const failed = await until('status error', async () => {
      const r = await row(mb.id);
      return r?.status === 'error' && r;
    });
    expect(failed.lastError).toMatch(/refused the login/);
    const logged = await t.deps.db.select().from(logs).where(eq(logs.orgId, owner.orgId));
    expect(
      logged.some(
        (l) =>
          l.level === 'error' &&
          /login failed/.test(l.message) &&
          (l.context as { mailboxId?: string }).mailboxId === mb.id,
      ),
    ).toBe(true);
    await t.deps.db.delete(mailboxes).where(eq(mailboxes.id, mb.id));
  });

  it('follows mailboxes disabled, edited, re-enabled and deleted without a restart', async () => {
    const { user, mb } = await newMailbox('imap');
    await worker.rescan();
    await connected(mb.id);

    await t.deps.db.update(mailboxes).set({ enabled: false }).where(eq(mailboxes.id, mb.id));
    await until('the watcher to stop', async () => !worker.watching().includes(mb.id));
    expect((await row(mb.id))!.leaseOwner).toBeNull();
    await dovecot.append(user, mail('while disabled')); // not sent: after re-enable it is caught up

    await t.deps.db
      .update(mailboxes)
      .set({ enabled: true, name: 'renamed', updatedAt: new Date() })
      .where(eq(mailboxes.id, mb.id));
    await until('the watcher to start', async () => worker.watching().includes(mb.id));
    await delivered('while disabled');

    await t.deps.db.delete(mailboxes).where(eq(mailboxes.id, mb.id));
    await until('the watcher to go', async () => !worker.watching().includes(mb.id));
  });
});
