import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { events, mailboxes } from '../../db/schema.js';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { signup, type SignedUp } from '../../../test/factories.js';
import { ingestEvent } from './service.js';

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
});
