import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, inArray, sql } from 'drizzle-orm';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { insertBot, insertChats, signup, type SignedUp } from '../../../test/factories.js';
import { attachments, deliveries, notifications } from '../../db/schema.js';
import { AppError } from '../../errors.js';
import { createNotificationBatcher, type NotificationBatcher } from './batcher.js';
import type { EnqueueInput } from './service.js';

let t: TestApp;
let owner: SignedUp;
let other: SignedUp;
let botId: string;
let chatIds: string[];
let foreignChatId: string;
let batcher: NotificationBatcher;

async function botWithChats(orgId: string, n: number) {
  const bot = await insertBot(t, orgId);
  const cs = await insertChats(t, orgId, n, { botIds: [bot.id] });
  return { botId: bot.id, chatIds: cs.map((c) => c.id) };
}

beforeAll(async () => {
  t = await createTestApp();
  owner = await signup(t);
  other = await signup(t);
  ({ botId, chatIds } = await botWithChats(owner.orgId, 3));
  foreignChatId = (await botWithChats(other.orgId, 1)).chatIds[0]!;
  batcher = createNotificationBatcher(t.deps.db, { maxBatch: 500, maxInFlight: 2, windowMs: 0 });
});
afterAll(() => t.close());

const input = (text: string, more: Partial<EnqueueInput> = {}): EnqueueInput => ({
  source: 'api',
  text,
  format: 'text',
  targets: [{ chatId: chatIds[0]! }],
  ...more,
});
/** The transaction that wrote each notification (rows of one transaction share xmin). */
const writtenBy = async (ids: string[]) =>
  (
    await t.deps.db
      .select({ id: notifications.id, xmin: sql<string>`${notifications}.xmin::text` })
      .from(notifications)
      .where(inArray(notifications.id, ids))
  ).map((r) => r.xmin);

describe('notification batcher (group commit)', () => {
  it('writes requests submitted together in ONE transaction, answering each with its own rows', async () => {
    // Submitted in one tick: all of them are in the first batch.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        batcher.submit(
          owner.orgId,
          input(`n${i} <&>`, { targets: chatIds.map((chatId) => ({ chatId })) }),
        ),
      ),
    );
    const ids = results.map((r) => r.notification.id);
    expect(new Set(ids).size).toBe(20);
    expect(new Set(await writtenBy(ids)).size).toBe(1);
    for (const r of results) {
      expect(r.created).toBe(true);
      expect(r.deliveries.map((d) => d.chatId)).toEqual(chatIds);
      expect(r.deliveries.every((d) => d.botId === botId && d.status === 'queued')).toBe(true);
    }
    const rows = await t.deps.db
      .select()
      .from(deliveries)
      .where(inArray(deliveries.notificationId, ids))
      .orderBy(deliveries.seq);
    expect(rows).toHaveLength(60);
    // seq follows the order the requests were submitted in (per-chat send order).
    expect(rows.map((d) => d.notificationId)).toEqual(ids.flatMap((id) => [id, id, id]));
    const [stored] = await t.deps.db
      .select()
      .from(notifications)
      .where(eq(notifications.id, ids[3]!));
    expect(stored).toMatchObject({ text: 'n3 &lt;&amp;&gt;', source: 'api', orgId: owner.orgId });
  });

  it('keeps "same key → same notification" within one batch and across batches', async () => {
    const first = await Promise.all([
      batcher.submit(owner.orgId, input('a', { idempotencyKey: 'same' })),
      batcher.submit(owner.orgId, input('a', { idempotencyKey: 'same' })),
      batcher.submit(owner.orgId, input('b', { idempotencyKey: 'other' })),
      // The same key in another org is another notification.
      batcher.submit(
        other.orgId,
        input('a', { idempotencyKey: 'same', targets: [{ chatId: foreignChatId }] }),
      ),
      batcher.submit(owner.orgId, input('a', { idempotencyKey: 'same' })),
    ]);
    const later = await batcher.submit(owner.orgId, input('a', { idempotencyKey: 'same' }));
    const id = first[0]!.notification.id;
    expect([first[1], first[4], later].map((r) => r!.notification.id)).toEqual([id, id, id]);
    expect([first[0], first[1], first[4], later].map((r) => r!.created)).toEqual([
      true,
      false,
      false,
      false,
    ]);
    expect(later.deliveries.map((d) => d.id)).toEqual(first[0]!.deliveries.map((d) => d.id));
    expect(first[2]!.notification.id).not.toBe(id);
    expect(first[3]!.notification.id).not.toBe(id);
    const keyed = await t.deps.db
      .select()
      .from(notifications)
      .where(eq(notifications.idempotencyKey, 'same'));
    expect(keyed).toHaveLength(2);
    expect(
      (await t.deps.db.select().from(deliveries).where(eq(deliveries.notificationId, id))).length,
    ).toBe(1);
  });

  it('fails only the request that is wrong: unknown and foreign chats or bots, an empty text', async () => {
    const settled = await Promise.allSettled([
      batcher.submit(owner.orgId, input('ok 1')),
      batcher.submit(owner.orgId, input('foreign', { targets: [{ chatId: foreignChatId }] })),
      batcher.submit(
        owner.orgId,
        input('no such', { targets: [{ chatId: '00000000-0000-4000-8000-000000000000' }] }),
      ),
      batcher.submit(
        owner.orgId,
        input('bot of another org', {
          targets: [{ chatId: chatIds[1]!, botId: crypto.randomUUID() }],
        }),
      ),
      batcher.submit(owner.orgId, input('ok 2', { targets: [{ chatId: chatIds[2]! }] })),
    ]);
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'rejected',
      'rejected',
      'rejected',
      'fulfilled',
    ]);
    const reasons = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : []));
    expect(reasons.every((r) => r instanceof AppError && r.code === 'validation')).toBe(true);
    expect(reasons.map((r: AppError) => r.message)).toEqual([
      'Unknown chat',
      'Unknown chat',
      'Unknown bot',
    ]);
    const ok = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.notification.id] : []));
    expect(new Set(await writtenBy(ok)).size).toBe(1);
    // Nothing visible to send is refused before it joins a batch.
    expect(() => batcher.submit(owner.orgId, input(' \n '))).toThrow('renders to an empty message');
    // …nor tags around nothing, which Telegram refuses as "message text is empty"
    for (const [text, format] of [
      ['<b></b>', 'html'],
      ['<i> </i>\n<u></u>', 'html'],
      ['<p><br></p>', 'html'],
    ] as const)
      expect(() => batcher.submit(owner.orgId, input(text, { format })), text).toThrow(
        'renders to an empty message',
      );
    // while one visible character is enough
    await expect(
      batcher.submit(owner.orgId, input('<b>!</b>', { format: 'html' })),
    ).resolves.toBeTruthy();
  });

  it('when the batch transaction fails, retries each request alone: the bad one fails, the rest are written', async () => {
    const settled = await Promise.allSettled([
      batcher.submit(owner.orgId, input('fine a')),
      // PostgreSQL refuses a NUL in text: this fails the batch's INSERT as a whole.
      batcher.submit(owner.orgId, input('nul key', { idempotencyKey: 'bad\u0000key' })),
      batcher.submit(owner.orgId, input('fine b')),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const ok = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.notification.id] : []));
    const rows = await t.deps.db.select().from(notifications).where(inArray(notifications.id, ok));
    expect(rows.map((r) => r.text).sort()).toEqual(['fine a', 'fine b']);
    // Written one by one after the batch rolled back: two transactions.
    expect(new Set(await writtenBy(ok)).size).toBe(2);
  });

  it('writes a batch holding files in one transaction too: the files stored, its batch-mates beside them', async () => {
    const [plain, withFile] = await Promise.all([
      batcher.submit(owner.orgId, input('plain')),
      batcher.submit(
        owner.orgId,
        input('with file', {
          attachments: [
            { filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('hello') },
          ],
        }),
      ),
    ]);
    const ids = [plain!.notification.id, withFile!.notification.id];
    expect(new Set(await writtenBy(ids)).size).toBe(1);
    const files = await t.deps.db
      .select({ filename: attachments.filename, content: attachments.content })
      .from(attachments)
      .where(inArray(attachments.notificationId, ids));
    expect(files).toEqual([{ filename: 'a.txt', content: Buffer.from('hello') }]);
    const rows = await t.deps.db
      .select({ notificationId: deliveries.notificationId })
      .from(deliveries)
      .where(inArray(deliveries.notificationId, ids))
      .orderBy(deliveries.seq);
    expect(rows.map((r) => r.notificationId)).toEqual(ids);
  });

  it('answers every waiting request before drain() resolves', async () => {
    const waiting = Array.from({ length: 5 }, (_, i) =>
      batcher.submit(owner.orgId, input(`d${i}`)),
    );
    let answered = 0;
    for (const w of waiting) void w.then(() => answered++);
    await batcher.drain();
    await Promise.resolve();
    expect(answered).toBe(5);
  });
});
