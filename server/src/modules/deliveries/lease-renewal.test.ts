import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { startDeliveryKit, type DeliveryKit } from '../../../test/delivery-kit.js';
import { insertBot, insertChats, signup, type SignedUp } from '../../../test/factories.js';
import { eventually } from '../../../test/wait.js';
import { randomBytes } from 'node:crypto';
import { deliveries, notifications } from '../../db/schema.js';

let t: TestApp;
let owner: SignedUp;

beforeAll(async () => {
  t = await createTestApp({ DELIVERY_LEASE_SECONDS: '1' });
  owner = await signup(t);
});
afterAll(() => t.close());

async function sendWaiting(kit: DeliveryKit, n: number) {
  for (let i = 0; i < n; i++) {
    const res = await t.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/notifications`,
      token: owner.token,
      payload: { text: `waits ${i}`, chatIds: [kit.chatIds[0]] },
    });
    expect(res.statusCode).toBe(202);
  }
  await kit.fake.waitForMessages(n, { timeoutMs: 20_000 });
  const rows = () => t.deps.db.select().from(deliveries).where(eq(deliveries.botId, kit.botId));
  // the fake has the last message a moment before the runner's report is stored
  await eventually(async () => (await rows()).every((d) => d.status === 'sent'), {
    ms: 5_000,
    why: () => 'not all sent',
  });
  return rows();
}

describe('delivery leases', () => {
  it('are renewed while a delivery waits in its runner: sent after 3 leases, still one attempt', async () => {
    // one message per second to the chat, a 1 s lease: the 4th waits ~3 s in the runner
    const kit = await startDeliveryKit(t, owner.orgId, {
      senderLimits: { chatBurst: 1, chatPerSecond: 1 },
      renewFirstMs: 300,
    });
    try {
      const rows = await sendWaiting(kit, 4);
      expect(rows.map((d) => [d.status, d.attempts])).toEqual(
        Array.from({ length: 4 }, () => ['sent', 1]),
      );
      expect(kit.fake.messages().map((m) => m.text)).toEqual([
        'waits 0',
        'waits 1',
        'waits 2',
        'waits 3',
      ]);
    } finally {
      await kit.close();
    }
  }, 30_000);

  it("renews only the calling runner's own deliveries: another bot's (another org's) ids are left alone", async () => {
    const other = await signup(t);
    const db = t.deps.db;
    const runnerToken = (orgId: string) =>
      `npr_${orgId.slice(0, 8)}_${randomBytes(8).toString('hex')}`;
    const mine = runnerToken(owner.orgId);
    const theirs = runnerToken(other.orgId);
    const bot = await insertBot(t, owner.orgId, { runnerToken: mine });
    await insertBot(t, other.orgId, { runnerToken: theirs });
    const [chat] = await insertChats(t, owner.orgId, 1);
    const [n] = await db
      .insert(notifications)
      .values({ orgId: owner.orgId, source: 'api', text: 'x', format: 'text' })
      .returning();
    const past = new Date(Date.now() - 60_000);
    const [d] = await db
      .insert(deliveries)
      .values({
        orgId: owner.orgId,
        notificationId: n!.id,
        chatId: chat!.id,
        botId: bot.id,
        status: 'sending',
        leaseExpiresAt: past,
      })
      .returning();
    const renew = (token: string, ids: unknown) =>
      t.app.inject({
        method: 'POST',
        url: '/internal/v1/deliveries/renew',
        headers: { authorization: `Bearer ${token}` },
        payload: { ids },
      });
    const leaseOf = async () =>
      (await db.select().from(deliveries).where(eq(deliveries.id, d!.id)))[0]!.leaseExpiresAt!;

    const foreign = await renew(theirs, [d!.id]);
    expect(foreign.statusCode).toBe(200);
    expect(foreign.json().renewed).toBe(0);
    expect((await leaseOf()).getTime()).toBe(past.getTime());
    expect((await renew('npr_nobody', [d!.id])).statusCode).toBe(401);
    expect((await renew(mine, ['not-a-uuid'])).statusCode).toBe(400);

    const own = await renew(mine, [d!.id]);
    expect(own.json()).toEqual({ renewed: 1, leaseMs: 1000 });
    expect((await leaseOf()).getTime()).toBeGreaterThan(Date.now());
  });
});
