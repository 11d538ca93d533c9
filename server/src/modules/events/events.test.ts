import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { deliveries, events, logs, mailboxes, notifications, rules } from '../../db/schema.js';
import { eventually } from '../../../test/wait.js';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { insertBot, insertChats, signup, type SignedUp } from '../../../test/factories.js';
import { ingestEvent, ingestMailAlone, type Enqueue } from './service.js';

let t: TestApp;
let owner: SignedUp;

beforeAll(async () => {
  t = await createTestApp();
  owner = await signup(t);
});
afterAll(() => t.close());

describe('ingestEvent', () => {
  it('stores a mail once per (mailbox, UIDVALIDITY, UID) and commits the cursor with it', async () => {
    const [mb] = await t.deps.db
      .insert(mailboxes)
      .values({
        orgId: owner.orgId,
        name: 'm',
        protocol: 'imap',
        host: 'h',
        port: 143,
        security: 'none',
        username: 'u',
        secretEncrypted: t.deps.secrets.encrypt('p'),
      })
      .returning();
    const mail = {
      source: 'mail' as const,
      mailboxId: mb!.id,
      uidValidity: '7',
      uid: 3,
      subject: 'Hi',
      from: 'a@b.c',
      text: 'x',
    };
    const advance =
      (uid: number) =>
      async (tx: Parameters<NonNullable<Parameters<typeof ingestEvent>[3]>>[0]) => {
        await tx
          .update(mailboxes)
          .set({ uidValidity: '7', lastUid: uid })
          .where(eq(mailboxes.id, mb!.id));
      };
    const first = await ingestEvent({ db: t.deps.db }, owner.orgId, mail, advance(3));
    expect(first?.eventId).toBeTruthy();
    const again = await ingestEvent({ db: t.deps.db }, owner.orgId, mail, advance(99));
    expect(again).toBeNull();
    const stored = await t.deps.db.select().from(events).where(eq(events.mailboxId, mb!.id));
    expect(stored).toHaveLength(1);
    const [cursor] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb!.id));
    expect(cursor!.lastUid).toBe(3); // the duplicate's transaction did not run its cursor update
  });

  it('records an unparseable mail with its error and matches no rule', async () => {
    const res = await ingestEvent({ db: t.deps.db }, owner.orgId, {
      source: 'mail',
      error: 'bad MIME',
    });
    const [row] = await t.deps.db.select().from(events).where(eq(events.id, res!.eventId));
    expect(row).toMatchObject({ error: 'bad MIME', matchedRuleIds: [] });
  });

  it('a rule whose enqueue fails in PostgreSQL is rolled back alone and logged; the next rule, the matched ids and the event stay', async () => {
    const org = await signup(t);
    const [first, second] = await t.deps.db
      .insert(rules)
      .values([
        { orgId: org.orgId, name: 'breaks', priority: 1, sources: {}, conditions: [] },
        { orgId: org.orgId, name: 'works', priority: 2, sources: {}, conditions: [] },
      ])
      .returning();
    const enqueue: Enqueue = async (tx, _orgId, n) => {
      await tx
        .update(events)
        .set({ subject: `by ${n.ruleId}` })
        .where(eq(events.id, n.eventId));
      if (n.ruleId === first!.id) await tx.execute(sql`select 1 / 0`); // aborts: its savepoint undoes it
    };
    const res = await ingestEvent({ db: t.deps.db, enqueue }, org.orgId, {
      source: 'webhook',
      subject: 'original',
      text: 'x',
    });
    expect(res?.matchedRuleIds).toEqual([first!.id, second!.id]);
    const [row] = await t.deps.db.select().from(events).where(eq(events.id, res!.eventId));
    expect(row).toMatchObject({
      subject: `by ${second!.id}`,
      matchedRuleIds: [first!.id, second!.id],
    });
    const logged = await t.deps.db
      .select()
      .from(logs)
      .where(and(eq(logs.orgId, org.orgId), eq(logs.source, 'rules')));
    expect(logged.map((l) => l.message)).toEqual([
      expect.stringMatching(/^Rule "breaks" could not enqueue: Failed query: select 1 \/ 0/),
    ]);
  });

  it('the same mail under another UID is recorded as a duplicate and matches no rule', async () => {
    const org = await signup(t);
    const [mb] = await t.deps.db
      .insert(mailboxes)
      .values({
        orgId: org.orgId,
        name: 'm',
        protocol: 'imap',
        host: 'h',
        port: 143,
        security: 'none',
        username: 'u',
        secretEncrypted: t.deps.secrets.encrypt('p'),
      })
      .returning();
    await t.deps.db.insert(rules).values({ orgId: org.orgId, name: 'all', conditions: [] });
    const calls: string[] = [];
    const enqueue: Enqueue = async (_tx, _orgId, n) => void calls.push(n.eventId);
    const mail = {
      source: 'mail' as const,
      mailboxId: mb!.id,
      uidValidity: '1',
      messageId: '<m@x>',
    };
    const a = await ingestEvent({ db: t.deps.db, enqueue }, org.orgId, { ...mail, uid: 1 });
    const b = await ingestEvent({ db: t.deps.db, enqueue }, org.orgId, { ...mail, uid: 2 });
    expect(a?.matchedRuleIds).toHaveLength(1);
    expect(b).toMatchObject({ matchedRuleIds: [], duplicateOf: a!.eventId });
    expect(calls).toEqual([a!.eventId]);
    const [dup] = await t.deps.db.select().from(events).where(eq(events.id, b!.eventId));
    expect(dup!.payload).toMatchObject({ duplicateOf: a!.eventId });
  });
});

describe('ingestMailAlone (the one-statement latency path)', () => {
  async function setup() {
    const org = await signup(t);
    const db = t.deps.db;
    const [mb] = await db
      .insert(mailboxes)
      .values({
        orgId: org.orgId,
        name: 'alone',
        protocol: 'imap',
        host: 'h',
        port: 143,
        security: 'none',
        username: 'u',
        secretEncrypted: t.deps.secrets.encrypt('p'),
        leaseOwner: 'replica-a',
      })
      .returning();
    const bot = await insertBot(t, org.orgId);
    const [chat] = await insertChats(t, org.orgId, [{ title: 'ops' }], { botIds: [bot.id] });
    const [lonely] = await insertChats(t, org.orgId, [{ title: 'no bot' }]);
    const [rule] = await db
      .insert(rules)
      .values({
        orgId: org.orgId,
        name: 'bookings',
        conditions: [{ field: 'subject', op: 'contains', value: 'booking' }],
        targets: [{ chatId: chat!.id }],
        template: '<b>{{subject}}</b>',
      })
      .returning();
    const mail = (uid: number, subject: string, messageId?: string) => ({
      source: 'mail' as const,
      mailboxId: mb!.id,
      mailboxName: 'alone',
      uidValidity: '7',
      uid,
      subject,
      from: 'guest@example.com',
      text: 'body',
      ...(messageId ? { messageId } : {}),
    });
    const cursorOf = async () =>
      (await db.select().from(mailboxes).where(eq(mailboxes.id, mb!.id)))[0]!.lastUid;
    const notificationsOf = (eventId: string) =>
      db.select().from(notifications).where(eq(notifications.eventId, eventId));
    return {
      org,
      db,
      mb: mb!,
      bot,
      chat: chat!,
      lonely: lonely!,
      rule: rule!,
      mail,
      cursorOf,
      notificationsOf,
    };
  }

  it('writes the event, its notification and delivery, the NOTIFY and the cursor at once', async () => {
    const s = await setup();
    const listener = new pg.Client({ connectionString: t.database.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (m) => heard.push(m.payload ?? ''));
    await listener.query('LISTEN np_deliveries');
    const r = await ingestMailAlone(s.db, s.org.orgId, s.mail(5, 'New booking <Smith> & co'), {
      mailboxId: s.mb.id,
      uid: 5,
      leaseOwner: 'replica-a',
    });
    expect(r.outcome).toBe('stored');
    const eventId = (r as { eventId: string }).eventId;
    const [event] = await s.db.select().from(events).where(eq(events.id, eventId));
    expect(event!.matchedRuleIds).toEqual([s.rule.id]);
    const [n] = await s.notificationsOf(eventId);
    expect(n!.text).toBe('<b>New booking &lt;Smith&gt; &amp; co</b>');
    expect(n!.ruleId).toBe(s.rule.id);
    const ds = await s.db.select().from(deliveries).where(eq(deliveries.notificationId, n!.id));
    expect(ds.map((d) => [d.chatId, d.botId, d.status])).toEqual([[s.chat.id, s.bot.id, 'queued']]);
    expect(await s.cursorOf()).toBe(5);
    await eventually(() => heard.includes(s.bot.id), { why: () => `heard ${heard.join()}` });
    await listener.end();

    // the same UID again: nothing new, the cursor still moves
    const again = await ingestMailAlone(s.db, s.org.orgId, s.mail(5, 'New booking'), {
      mailboxId: s.mb.id,
      uid: 6,
      leaseOwner: 'replica-a',
    });
    expect(again.outcome).toBe('known');
    expect(await s.cursorOf()).toBe(6);
  });

  it('writes nothing when the lease is another replica’s', async () => {
    const s = await setup();
    const r = await ingestMailAlone(s.db, s.org.orgId, s.mail(9, 'booking'), {
      mailboxId: s.mb.id,
      uid: 9,
      leaseOwner: 'replica-b',
    });
    expect(r.outcome).toBe('lease_lost');
    expect(await s.db.select().from(events).where(eq(events.mailboxId, s.mb.id))).toHaveLength(0);
    expect(await s.cursorOf()).not.toBe(9);
  });

  it('records the same Message-ID again as a duplicate that matches nothing', async () => {
    const s = await setup();
    const cur = (uid: number) => ({ mailboxId: s.mb.id, uid, leaseOwner: 'replica-a' });
    const first = await ingestMailAlone(s.db, s.org.orgId, s.mail(1, 'booking', '<m1@x>'), cur(1));
    const second = await ingestMailAlone(s.db, s.org.orgId, s.mail(2, 'booking', '<m1@x>'), cur(2));
    expect(second).toMatchObject({
      outcome: 'stored',
      duplicateOf: (first as { eventId: string }).eventId,
    });
    const secondId = (second as { eventId: string }).eventId;
    const [dup] = await s.db.select().from(events).where(eq(events.id, secondId));
    expect(dup!.matchedRuleIds).toEqual([]);
    expect((dup!.payload as { duplicateOf?: string }).duplicateOf).toBe(
      (first as { eventId: string }).eventId,
    );
    expect(await s.notificationsOf(secondId)).toHaveLength(0);
    expect(await s.cursorOf()).toBe(2);
  });

  it('leaves a mail it cannot fully handle to ingestEvent, having written nothing', async () => {
    const s = await setup();
    // a matching rule whose chat no bot can send to: ingestEvent logs why
    await s.db
      .update(rules)
      .set({ targets: [{ chatId: s.lonely.id }] })
      .where(eq(rules.id, s.rule.id));
    const cur = { mailboxId: s.mb.id, uid: 3, leaseOwner: 'replica-a' };
    expect((await ingestMailAlone(s.db, s.org.orgId, s.mail(3, 'booking'), cur)).outcome).toBe(
      'slow',
    );
    // a mail that could not be parsed: ingestEvent records it with the error and logs it
    const broken = { ...s.mail(3, 'booking'), error: 'bad MIME' };
    expect((await ingestMailAlone(s.db, s.org.orgId, broken, cur)).outcome).toBe('slow');
    expect(await s.db.select().from(events).where(eq(events.mailboxId, s.mb.id))).toHaveLength(0);
    expect(await s.cursorOf()).not.toBe(3);
  });
});
