import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events, logs, mailboxes, rules } from '../../db/schema.js';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { signup, type SignedUp } from '../../../test/factories.js';
import { ingestEvent, type Enqueue } from './service.js';

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
