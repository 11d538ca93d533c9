import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events, mailboxes } from '../db/schema.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { startDovecot, type DovecotServer } from '../../test/dovecot.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { catchUpImap, openMailboxSession } from './imap-sync.js';

let dovecot: DovecotServer;
let t: TestApp;
let owner: SignedUp;

beforeAll(async () => {
  dovecot = await startDovecot({ users: { bob: 'pw' } });
  t = await createTestApp({ MAIL_ALLOW_PRIVATE_HOSTS: 'true' });
  owner = await signup(t);
});
afterAll(async () => {
  await t?.close();
  await dovecot?.stop();
});

const mail = (subject: string, extra = '') =>
  `From: a@example.com\r\nTo: bob@example.com\r\nSubject: ${subject}\r\n${extra}\r\nbody of ${subject}\r\n`;

describe('IMAP catch-up', () => {
  it('baselines, then ingests each new mail exactly once with the cursor, windows-1251 included', async () => {
    await dovecot.append('bob', mail('old'));
    const [mb] = await t.deps.db
      .insert(mailboxes)
      .values({
        orgId: owner.orgId,
        name: 'bob',
        protocol: 'imap',
        host: '127.0.0.1',
        port: dovecot.imapPort,
        security: 'none',
        username: 'bob',
        secretEncrypted: t.deps.secrets.encrypt('pw'),
      })
      .returning();
    const deps = { db: t.deps.db, secrets: t.deps.secrets, allowPrivateHosts: true };

    let session = await openMailboxSession(deps, mb!);
    expect(await catchUpImap(deps, mb!, session)).toBe(0); // old mail is the baseline
    await session.close();

    await dovecot.append('bob', mail('one'));
    await dovecot.append(
      'bob',
      Buffer.concat([
        Buffer.from(
          'From: a@example.com\r\nSubject: =?windows-1251?B?7+jx/OzuIA==?=\r\nContent-Type: text/plain; charset=windows-1251\r\n\r\n',
        ),
        Buffer.from([0xef, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2]),
        Buffer.from('\r\n'),
      ]),
    );
    const [fresh] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb!.id));
    session = await openMailboxSession(deps, fresh!);
    expect(await catchUpImap(deps, fresh!, session)).toBe(2);
    expect(await catchUpImap(deps, { ...fresh!, lastUid: 1 }, session)).toBe(0); // cursor rewound past stored mail: no duplicate
    await session.close();

    const stored = await t.deps.db.select().from(events).where(eq(events.mailboxId, mb!.id));
    expect(stored.map((e) => e.subject).sort()).toEqual(['one', 'письмо '].sort()); // the encoded word ends in a space;
    const [after] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb!.id));
    expect(after!.lastUid).toBe(3);
  });

  it('after a UIDVALIDITY reset, starts a new baseline without re-sending old mail, then flows', async () => {
    const [mb] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.orgId, owner.orgId));
    const deps = { db: t.deps.db, secrets: t.deps.secrets, allowPrivateHosts: true };
    const before = (await t.deps.db.select().from(events).where(eq(events.mailboxId, mb!.id)))
      .length;
    await dovecot.resetUidValidity('bob');
    let session = await openMailboxSession(deps, mb!);
    expect(await catchUpImap(deps, mb!, session)).toBe(0);
    await session.close();
    await dovecot.append('bob', mail('after reset'));
    const [fresh] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb!.id));
    session = await openMailboxSession(deps, fresh!);
    expect(await catchUpImap(deps, fresh!, session)).toBe(1);
    await session.close();
    expect((await t.deps.db.select().from(events).where(eq(events.mailboxId, mb!.id))).length).toBe(
      before + 1,
    );
  });

  it('a backlog of 65 mails is committed in parallel batches, each exactly once, the cursor at the last', async () => {
    const [mb] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.orgId, owner.orgId));
    const deps = { db: t.deps.db, secrets: t.deps.secrets, allowPrivateHosts: true };
    const before = (await t.deps.db.select().from(events).where(eq(events.mailboxId, mb!.id)))
      .length;
    for (let i = 0; i < 65; i++) await dovecot.append('bob', mail(`backlog ${i}`));
    const [fresh] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb!.id));
    const committed: number[] = [];
    const session = await openMailboxSession(deps, fresh!);
    expect(
      await catchUpImap(
        { ...deps, onIngested: (x) => committed.push(Number(x.uid)) },
        fresh!,
        session,
      ),
    ).toBe(65);
    expect(await catchUpImap(deps, fresh!, session)).toBe(0);
    const status = await dovecot.mailboxStatus('bob');
    await session.close();
    const stored = await t.deps.db.select().from(events).where(eq(events.mailboxId, mb!.id));
    expect(stored.length).toBe(before + 65);
    expect(new Set(stored.map((e) => e.uid)).size).toBe(stored.length);
    const [after] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb!.id));
    expect(after!.lastUid).toBe(status.uidNext - 1);
    // batches reported in UID order: commits were serialized even though the work overlapped
    expect(committed).toEqual([...committed].sort((a, b) => a - b));
  });
});
