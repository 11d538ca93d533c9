import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { startDovecot, type DovecotServer } from '../../test/dovecot.js';
import { insertChats, signup, type SignedUp } from '../../test/factories.js';
import { events, mailboxes, rules } from '../db/schema.js';
import { catchUpImap, openMailboxSession } from './imap-sync.js';
import { pollPop3 } from './pop3-sync.js';

let dovecot: DovecotServer;
let t: TestApp;
let owner: SignedUp;

beforeAll(async () => {
  dovecot = await startDovecot({ users: { carol: 'pw', dave: 'pw' } });
  t = await createTestApp({ MAIL_ALLOW_PRIVATE_HOSTS: 'true' });
  owner = await signup(t);
});
afterAll(async () => {
  await t?.close();
  await dovecot?.stop();
});

describe('what the worker keeps of a mail', () => {
  it('keeps the raw MIME, summarizes a huge message instead of dropping it, and matches a re-delivered Message-ID once', async () => {
    const [mb] = await t.deps.db
      .insert(mailboxes)
      .values({
        orgId: owner.orgId,
        name: 'carol',
        protocol: 'imap',
        host: '127.0.0.1',
        port: dovecot.imapPort,
        security: 'none',
        username: 'carol',
        secretEncrypted: t.deps.secrets.encrypt('pw'),
      })
      .returning();
    const [chat] = await insertChats(t, owner.orgId, [{ telegramChatId: 42, type: 'private' }]);
    const [rule] = await t.deps.db
      .insert(rules)
      .values({ orgId: owner.orgId, name: 'all mail', targets: [{ chatId: chat!.id }] })
      .returning();
    const deps = {
      db: t.deps.db,
      secrets: t.deps.secrets,
      allowPrivateHosts: true,
      maxMessageBytes: 64 * 1024,
    };
    let session = await openMailboxSession(deps, mb!);
    await catchUpImap(deps, mb!, session); // empty folder: the baseline
    await session.close();

    const small =
      'From: a@example.com\r\nSubject: Order 17\r\nMessage-ID: <order-17@shop.test>\r\n\r\nTwo lamps.\r\n';
    const attachment = Buffer.alloc(300 * 1024, 'x')
      .toString('base64')
      .replace(/.{76}/g, '$&\r\n');
    const huge = [
      'From: scanner@example.com',
      'Subject: Scan 2026-12-03',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Your scan is attached.',
      '--b1',
      'Content-Type: application/pdf; name="scan.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      attachment,
      '--b1--',
      '',
    ].join('\r\n');
    await dovecot.append('carol', small);
    await dovecot.append('carol', huge);
    await dovecot.append('carol', small); // the same Message-ID again, under a new UID

    const [fresh] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb!.id));
    session = await openMailboxSession(deps, fresh!);
    expect(await catchUpImap(deps, fresh!, session)).toBe(3);
    await session.close();

    const rows = await t.deps.db
      .select()
      .from(events)
      .where(eq(events.mailboxId, mb!.id))
      .orderBy(asc(events.uid));
    expect(rows).toHaveLength(3);
    const [order, scan, again] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
    expect(order.raw?.toString('utf8')).toBe(small);
    expect(order.matchedRuleIds).toEqual([rule!.id]);

    expect(scan.subject).toBe('Scan 2026-12-03');
    expect(scan.error).toBeNull();
    expect(String(scan.payload.text)).toContain('Your scan is attached.');
    expect(String(scan.payload.text)).toMatch(
      /This message is 0\.4 MB; only its first 0\.1 MB were read/,
    );
    expect(scan.raw!.length).toBe(64 * 1024);
    expect(scan.matchedRuleIds).toEqual([rule!.id]);

    expect(again.payload.duplicateOf).toBe(order.id);
    expect(again.matchedRuleIds).toEqual([]);
  });

  it('over POP3 too: a huge message is read with TOP and summarized, a small one whole', async () => {
    const [mb] = await t.deps.db
      .insert(mailboxes)
      .values({
        orgId: owner.orgId,
        name: 'dave',
        protocol: 'pop3',
        host: '127.0.0.1',
        port: dovecot.pop3Port,
        security: 'none',
        username: 'dave',
        secretEncrypted: t.deps.secrets.encrypt('pw'),
      })
      .returning();
    const deps = {
      db: t.deps.db,
      secrets: t.deps.secrets,
      allowPrivateHosts: true,
      maxMessageBytes: 64 * 1024,
    };
    const fresh = async () =>
      (await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb!.id)))[0]!;
    expect(await pollPop3(deps, await fresh())).toBe(0); // the baseline
    const lines = Array.from({ length: 8000 }, (_, i) => `line ${i} ${'y'.repeat(60)}`);
    const huge = `From: backup@example.com\r\nSubject: Nightly log\r\n\r\nStarted.\r\n${lines.join('\r\n')}\r\n`;
    const small = 'From: a@example.com\r\nSubject: Ping\r\n\r\npong\r\n';
    await dovecot.append('dave', huge);
    await dovecot.append('dave', small);
    expect(await pollPop3(deps, await fresh())).toBe(2);
    const rows = await t.deps.db
      .select()
      .from(events)
      .where(eq(events.mailboxId, mb!.id))
      .orderBy(asc(events.receivedAt));
    const log = rows.find((r) => r.subject === 'Nightly log')!;
    const ping = rows.find((r) => r.subject === 'Ping')!;
    expect(String(log.payload.text)).toContain('Started.');
    expect(String(log.payload.text)).toMatch(
      /This message is 0\.\d MB; only its first 0\.\d MB were read/,
    );
    expect(log.raw!.length).toBeLessThanOrEqual(64 * 1024);
    expect(ping.raw!.toString('utf8')).toContain('pong');
    expect(String(ping.payload.text)).not.toContain('only its first');
  });
});
