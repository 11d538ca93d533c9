/**
 * Worker replicas as real processes (`notifypro worker`), killed with SIGKILL: the other
 * replica takes the mailboxes over, and a kill between fetch and commit loses nothing and
 * doubles nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eq, inArray, sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { startDeliveryKit, type DeliveryKit } from '../../test/delivery-kit.js';
import { startDovecot, type DovecotServer } from '../../test/dovecot.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { deliveries, events, mailboxes, notifications } from '../db/schema.js';

const serverDir = fileURLToPath(new URL('../..', import.meta.url));
const SECRET_KEY = 'test-secret-key-0123456789abcdef0123456789'; // createTestApp's

let dovecot: DovecotServer;
let t: TestApp;
let owner: SignedUp;
let kit: DeliveryKit;
const children = new Set<ChildProcess>();
let userSeq = 0;

beforeAll(async () => {
  dovecot = await startDovecot({ ssl: false });
  t = await createTestApp({ MAIL_ALLOW_PRIVATE_HOSTS: 'true' });
  owner = await signup(t);
  kit = await startDeliveryKit(t, owner.orgId, { chats: 1 });
  await kit.addRule();
}, 60_000);
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});
afterAll(async () => {
  await kit?.close();
  await t?.close();
  await dovecot?.destroy();
});

/** `notifypro worker` against the test database, 2 s leases. */
function startWorkerProcess(): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'worker'], {
    cwd: serverDir,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: t.database.url,
      SECRET_KEY,
      MAIL_ALLOW_PRIVATE_HOSTS: 'true',
      WORKER_LEASE_SECONDS: '2',
      LOG_LEVEL: 'warn',
      DATA_DIR: '/tmp/np-test-data',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  children.add(child);
  child.once('exit', () => children.delete(child));
  return Object.assign(child, { output: () => output });
}

async function kill(child: ChildProcess) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function newMailbox() {
  const user = `f${++userSeq}`;
  await dovecot.addUser(user, 'pw');
  const [mb] = await t.deps.db
    .insert(mailboxes)
    .values({
      orgId: owner.orgId,
      name: user,
      protocol: 'imap',
      host: '127.0.0.1',
      port: dovecot.imapPort,
      security: 'none',
      username: user,
      secretEncrypted: t.deps.secrets.encrypt('pw'),
    })
    .returning();
  return { user, id: mb!.id };
}

const rows = (ids: string[]) =>
  t.deps.db.select().from(mailboxes).where(inArray(mailboxes.id, ids));
const mail = (subject: string) =>
  `From: a@example.com\r\nTo: b@example.com\r\nSubject: ${subject}\r\n\r\nbody\r\n`;
const texts = () => kit.fake.messages().map((m) => m.plainText);
const pidOf = (owner: string | null) => Number(owner?.split(':')[1]);

describe('worker replicas', () => {
  it('two workers share the mailboxes; one is SIGKILLed and the other takes its mailboxes over', async () => {
    const boxes = await Promise.all([1, 2, 3, 4].map(() => newMailbox()));
    const ids = boxes.map((b) => b.id);
    const a = startWorkerProcess();
    const b = startWorkerProcess();
    // both alive, two mailboxes each, every watcher connected with its baseline
    const spread = await until(
      'the mailboxes spread over both workers',
      async () => {
        const now = await rows(ids);
        const owners = new Map<number, number>();
        for (const r of now)
          owners.set(pidOf(r.leaseOwner), (owners.get(pidOf(r.leaseOwner)) ?? 0) + 1);
        const ready = now.every((r) => r.status === 'ok' && r.uidValidity);
        return ready && owners.get(a.pid!) === 2 && owners.get(b.pid!) === 2 && now;
      },
      30_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${a.output()}\n${b.output()}`);
    });
    const ofA = spread.filter((r) => pidOf(r.leaseOwner) === a.pid).map((r) => r.id);

    await kill(a);
    for (const box of boxes) await dovecot.append(box.user, mail(`takeover ${box.user}`));
    for (const box of boxes)
      await until(`takeover ${box.user} delivered`, async () =>
        texts().includes(`takeover ${box.user}`),
      );
    const after = await rows(ids);
    expect(after.every((r) => pidOf(r.leaseOwner) === b.pid)).toBe(true);
    for (const box of boxes)
      expect(texts().filter((x) => x === `takeover ${box.user}`)).toHaveLength(1);
    const stored = await t.deps.db.select().from(events).where(inArray(events.mailboxId, ofA));
    expect(stored).toHaveLength(2);
    await kill(b);
    await t.deps.db.delete(mailboxes).where(inArray(mailboxes.id, ids));
  }, 90_000);

  it('a worker SIGKILLed between fetch and commit: the mail is ingested and delivered exactly once by the next', async () => {
    const box = await newMailbox();
    const a = startWorkerProcess();
    await until('the watcher to connect', async () => {
      const [r] = await rows([box.id]);
      return r?.status === 'ok' && r.uidValidity && pidOf(r.leaseOwner) === a.pid;
    });

    // hold the mailbox row (NO KEY UPDATE: the event's foreign key may still share it): the
    // worker writes the event and its deliveries, then waits at the lease check before commit
    const blocker = new pg.Client({ connectionString: t.database.url });
    blocker.on('error', () => {});
    await blocker.connect();
    await blocker.query('begin');
    await blocker.query('select id from mailboxes where id = $1 for no key update', [box.id]);
    await dovecot.append(box.user, mail('killed mid-commit'));
    const blockerPid = (await blocker.query<{ pid: number }>('select pg_backend_pid() as pid'))
      .rows[0]!.pid;
    // a write into events (holds its RowExclusiveLock) waiting on us — directly, or queued
    // behind the worker's lease renewal, which waits on us too
    const waiting = await until('the commit to wait on the row lock', async () => {
      const { rows: found } = await blocker.query<{ pid: number }>(
        `select distinct l.pid from pg_locks l join pg_class c on c.oid = l.relation
          where c.relname = 'events' and l.mode = 'RowExclusiveLock' and l.granted
            and l.pid <> $1 and (select wait_event_type from pg_stat_activity a
                                  where a.pid = l.pid) = 'Lock'`,
        [blockerPid],
      );
      return found.length > 0 && found.map((r) => r.pid);
    });
    // the event and its deliveries are written but not committed
    await kill(a);
    await blocker.query('rollback');
    await blocker.end();
    // The dead worker's write is all or nothing: a transaction whose COMMIT never came is
    // rolled back; the one-statement latency path (event, deliveries and cursor together)
    // commits on its own once unblocked. Either way the event and the cursor go together.
    await until('the dead backend to go', async () => {
      const result = await t.deps.db.execute(
        sql`select count(*)::int as n from pg_stat_activity where pid = any(${sql.param(waiting)}::int[])`,
      );
      return (result.rows[0] as { n: number }).n === 0;
    });
    const left = await t.deps.db.select().from(events).where(eq(events.mailboxId, box.id));
    const [cursorAfterKill] = await rows([box.id]);
    expect(left.length).toBeLessThanOrEqual(1);
    expect(cursorAfterKill!.lastUid === left[0]?.uid).toBe(left.length === 1);

    const b = startWorkerProcess();
    await until('killed mid-commit delivered', async () => texts().includes('killed mid-commit'));
    const stored = await t.deps.db.select().from(events).where(eq(events.mailboxId, box.id));
    expect(stored.map((e) => e.subject)).toEqual(['killed mid-commit']);
    const sent = await t.deps.db
      .select({ id: deliveries.id })
      .from(deliveries)
      .innerJoin(notifications, eq(notifications.id, deliveries.notificationId))
      .where(eq(notifications.eventId, stored[0]!.id));
    expect(sent).toHaveLength(1);
    // give a duplicate the time to show up: one more lease round and an IDLE cycle
    await dovecot.append(box.user, mail('after the kill'));
    await until('after the kill delivered', async () => texts().includes('after the kill'));
    expect(texts().filter((x) => x === 'killed mid-commit')).toHaveLength(1);
    const [r] = await rows([box.id]);
    expect(pidOf(r!.leaseOwner)).toBe(b.pid);
    await kill(b);
  }, 90_000);
});
