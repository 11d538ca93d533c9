import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { createTestApp, type TestApp } from '../../test/app.js';
import { startDeliveryKit, type DeliveryKit } from '../../test/delivery-kit.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { deliveries } from '../db/schema.js';

let t: TestApp;
let owner: SignedUp;
let kit: DeliveryKit;

beforeAll(async () => {
  t = await createTestApp();
  owner = await signup(t);
  kit = await startDeliveryKit(t, owner.orgId, { chats: 3 });
}, 30_000);
afterAll(async () => {
  await kit?.close();
  await t?.close();
});

/** Three parts of 4096 at most: lines of 100 characters, each numbered. */
const longText = (tag: string) =>
  Array.from({ length: 100 }, (_, i) =>
    `${tag} line ${String(i).padStart(3, '0')} `.padEnd(99, '.'),
  ).join('\n');

async function sendAndSettle(chat: number, text: string) {
  const res = await t.request({
    method: 'POST',
    url: `/api/v1/orgs/${owner.orgId}/notifications`,
    token: owner.token,
    payload: { text, chatIds: [kit.chatIds[chat]] },
  });
  expect(res.statusCode).toBe(202);
  return settled(res.json().deliveries[0].id as string);
}

async function settled(id: string) {
  for (const end = Date.now() + 30_000; ; ) {
    const [d] = await t.deps.db.select().from(deliveries).where(eq(deliveries.id, id));
    if (d!.status === 'sent' || d!.status === 'failed' || d!.status === 'dead') return d!;
    if (Date.now() > end) throw new Error(`delivery still ${d!.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a split delivery that fails partway', () => {
  it('resumes after the parts Telegram took: a 502 on part 2 sends part 1 once', async () => {
    const chat = kit.telegramChatIds[0]!;
    kit.fake.failNext({
      method: 'sendMessage',
      chatId: chat,
      after: 1,
      fault: { type: 'http', status: 502 },
    });
    const d = await sendAndSettle(0, longText('A'));
    expect(d.status).toBe('sent');
    expect(d.attempts).toBe(2);
    const got = kit.fake.messages({ chatId: chat });
    // Part 1 once, then parts 2 and 3 from the second attempt: nothing resent, nothing lost.
    expect(got).toHaveLength(3);
    expect(got.map((m) => m.plainText.slice(0, 14))).toEqual([
      'A line 000 ...',
      expect.stringMatching(/^A line \d{3}/),
      expect.stringMatching(/^A line \d{3}/),
    ]);
    expect(got.map((m) => m.plainText).join('\n')).toBe(longText('A'));
    expect(d.telegramMessageIds).toEqual(got.map((m) => m.message_id));
    expect(kit.fake.stats().errorsByCode['502']).toBe(1);
  });

  it('after a dropped connection on part 2, sends part 2 once more (outcome unknown) but never part 1', async () => {
    const chat = kit.telegramChatIds[1]!;
    kit.fake.failNext({
      method: 'sendMessage',
      chatId: chat,
      after: 1,
      fault: { type: 'drop-after-accept' },
    });
    const d = await sendAndSettle(1, longText('B'));
    expect(d.status).toBe('sent');
    const got = kit.fake.messages({ chatId: chat }).map((m) => m.plainText);
    const parts = [...new Set(got)];
    expect(parts).toHaveLength(3);
    expect(parts.join('\n')).toBe(longText('B'));
    // Part 2 reached Telegram before the connection dropped: it is the one sent twice.
    expect(got).toEqual([parts[0], parts[1], parts[1], parts[2]]);
    expect(d.telegramMessageIds).toHaveLength(3);
  });

  it('a manual retry of a delivery that failed on part 2 sends parts 2 and 3, not part 1 again', async () => {
    const chat = kit.telegramChatIds[2]!;
    kit.fake.failNext({
      method: 'sendMessage',
      chatId: chat,
      after: 1,
      fault: { type: 'http', status: 400, description: 'Bad Request: something Telegram refuses' },
    });
    const failed = await sendAndSettle(2, longText('C'));
    expect(failed.status).toBe('failed');
    const first = kit.fake.messages({ chatId: chat });
    expect(first).toHaveLength(1);
    // The part Telegram took is on record with the failure.
    expect(failed.telegramMessageIds).toEqual([first[0]!.message_id]);

    const retry = await t.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/deliveries/${failed.id}/retry`,
      token: owner.token,
    });
    expect(retry.statusCode).toBe(200);
    const d = await settled(failed.id);
    expect(d.status).toBe('sent');
    const got = kit.fake.messages({ chatId: chat });
    expect(got).toHaveLength(3);
    expect(got.map((m) => m.plainText).join('\n')).toBe(longText('C'));
    expect(d.telegramMessageIds).toEqual(got.map((m) => m.message_id));
  });
});
