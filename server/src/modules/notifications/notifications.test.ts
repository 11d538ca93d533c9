import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { insertBot, insertChats, signup, type SignedUp } from '../../../test/factories.js';
import { deliveries } from '../../db/schema.js';

let t: TestApp;
let owner: SignedUp;
let botId: string;
let chatIds: string[];
const runnerToken = 'npr_test_runner_token_0123456789';

beforeAll(async () => {
  t = await createTestApp();
  owner = await signup(t);
  botId = (await insertBot(t, owner.orgId, { runnerToken })).id;
  chatIds = (await insertChats(t, owner.orgId, 3, { botIds: [botId] })).map((c) => c.id);
});
afterAll(() => t.close());

const post = (payload: object) =>
  t.request({
    method: 'POST',
    url: `/api/v1/orgs/${owner.orgId}/notifications`,
    token: owner.token,
    payload,
  });

describe('notifications API', () => {
  it('accepts a notification: one delivery per chat, bot picked, text rendered safely', async () => {
    const res = await post({ text: '<script>alert(1)</script> & co', chatIds });
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body.deliveries).toHaveLength(3);
    expect(
      body.deliveries.every(
        (d: { botId: string; status: string }) => d.botId === botId && d.status === 'queued',
      ),
    ).toBe(true);
    const one = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${owner.orgId}/notifications/${body.id}`,
      token: owner.token,
    });
    expect(one.statusCode).toBe(200);
    expect(one.json().text).not.toContain('<script>');
    expect(one.json().deliveries).toHaveLength(3);
  });

  it('same idempotency key, even concurrently → the same notification', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        post({ text: 'x', chatIds: [chatIds[0]], idempotencyKey: 'k1' }),
      ),
    );
    const ids = new Set(results.map((r) => r.json().id));
    expect(results.map((r) => r.statusCode)).toEqual([202, 202, 202, 202, 202]);
    expect(ids.size).toBe(1);
    const again = await post({ text: 'x', chatIds: [chatIds[0]], idempotencyKey: 'k1' });
    expect(again.json().id).toBe([...ids][0]);
    expect(again.json().deliveries).toHaveLength(1);
  });

  it('refuses a NUL in the idempotency key or a file name with a 400 naming the field', async () => {
    const key = await post({ text: 'x', chatIds: [chatIds[0]], idempotencyKey: 'a\u0000b' });
    expect(key.statusCode).toBe(400);
    expect(JSON.stringify(key.json())).toContain('idempotencyKey');
    const file = await post({
      text: 'x',
      chatIds: [chatIds[0]],
      attachments: [{ filename: 'a\u0000.txt', content: 'aGk=' }],
    });
    expect(file.statusCode).toBe(400);
    expect(JSON.stringify(file.json())).toContain('attachments');
  });

  it('rejects a chat of another org naming the field', async () => {
    const res = await post({ text: 'x', chatIds: ['00000000-0000-4000-8000-000000000000'] });
    expect(res.statusCode).toBe(400);
    expect(JSON.stringify(res.json())).toContain('chatIds');
  });

  it('filters deliveries and retries failed ones', async () => {
    const list = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${owner.orgId}/deliveries?status=queued&chatId=${chatIds[1]}`,
      token: owner.token,
    });
    expect(list.statusCode).toBe(200);
    const items = list.json().items as Array<{ id: string; chatId: string }>;
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((d) => d.chatId === chatIds[1])).toBe(true);
    const id = items[0]!.id;
    const notYet = await t.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/deliveries/${id}/retry`,
      token: owner.token,
    });
    expect(notYet.statusCode).toBe(409);
    await t.deps.db
      .update(deliveries)
      .set({ status: 'dead', attempts: 8 })
      .where(eq(deliveries.id, id));
    const retried = await t.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/deliveries/${id}/retry`,
      token: owner.token,
    });
    expect(retried.statusCode).toBe(200);
    expect(retried.json().status).toBe('queued');
    const one = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${owner.orgId}/deliveries/${id}`,
      token: owner.token,
    });
    expect(one.statusCode).toBe(200);
    // A retry starts the attempts afresh.
    expect(one.json()).toMatchObject({ id, chatId: chatIds[1], status: 'queued', attempts: 0 });
    const other = await signup(t);
    const foreign = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${other.orgId}/deliveries/${id}`,
      token: other.token,
    });
    expect(foreign.statusCode).toBe(404);
  });
});

describe('internal delivery API', () => {
  const internal = (url: string, payload: object) =>
    t.request({ method: 'POST', url: `/internal/v1${url}`, token: runnerToken, payload });

  it('claims in seq order with a lease, records results, long-polls until NOTIFY', async () => {
    await t.deps.db.update(deliveries).set({ status: 'sent' }).where(eq(deliveries.botId, botId));
    await post({ text: 'a & <b>', chatIds });
    const c = await internal('/deliveries/claim', { limit: 10, waitMs: 0 });
    expect(c.statusCode).toBe(200);
    const ds = c.json().deliveries as Array<{
      id: string;
      seq: number;
      text: string;
      attempts: number;
    }>;
    expect(ds).toHaveLength(3);
    expect(ds.map((d) => d.seq)).toEqual([...ds.map((d) => d.seq)].sort((a, b) => a - b));
    expect(ds[0]!.text).toBe('a &amp; &lt;b&gt;');
    expect(
      (await internal('/deliveries/claim', { limit: 10, waitMs: 0 })).json().deliveries,
    ).toHaveLength(0);

    expect(
      (
        await internal(`/deliveries/${ds[0]!.id}/result`, { outcome: 'sent', messageIds: [7] })
      ).json().status,
    ).toBe('sent');
    expect(
      (
        await internal(`/deliveries/${ds[1]!.id}/result`, { outcome: 'unknown', error: 'dropped' })
      ).json().status,
    ).toBe('queued');
    await t.deps.db
      .update(deliveries)
      .set({ status: 'sending', lastError: 'unknown: dropped' })
      .where(eq(deliveries.id, ds[1]!.id));
    expect(
      (
        await internal(`/deliveries/${ds[1]!.id}/result`, { outcome: 'unknown', error: 'dropped' })
      ).json().status,
    ).toBe('dead');
    expect(
      (
        await internal(`/deliveries/${ds[2]!.id}/result`, {
          outcome: 'chat_gone',
          reason: 'kicked',
        })
      ).json().status,
    ).toBe('failed');

    // Long poll: woken by the NOTIFY of a new notification, well before waitMs.
    const started = Date.now();
    const waiting = internal('/deliveries/claim', { limit: 10, waitMs: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    await post({ text: 'later', chatIds: [chatIds[0]] });
    const woke = await waiting;
    expect(woke.json().deliveries).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5_000);

    // An expired lease makes the delivery claimable again.
    const id = woke.json().deliveries[0].id;
    await t.deps.db
      .update(deliveries)
      .set({ leaseExpiresAt: new Date(Date.now() - 1000) })
      .where(eq(deliveries.id, id));
    const again = await internal('/deliveries/claim', { limit: 10, waitMs: 0 });
    expect(again.json().deliveries.map((d: { id: string }) => d.id)).toEqual([id]);
  });

  it('answers a repeated or late report with the status as it is, and takes a late sent', async () => {
    await t.deps.db.update(deliveries).set({ status: 'sent' }).where(eq(deliveries.botId, botId));
    await post({ text: 'r1', chatIds: [chatIds[0]] });
    await post({ text: 'r2', chatIds: [chatIds[1]] });
    const [r1, r2] = (await internal('/deliveries/claim', { limit: 10, waitMs: 0 })).json()
      .deliveries as Array<{ id: string }>;
    const row = async (id: string) =>
      (await t.deps.db.select().from(deliveries).where(eq(deliveries.id, id)))[0]!;
    const report = async (id: string, body: object) =>
      (await internal(`/deliveries/${id}/result`, body)).json().status;

    // A 5xx, reported twice (the runner did not get the first answer): one backoff, not two.
    expect(await report(r1!.id, { outcome: 'retry', error: '502' })).toBe('queued');
    const backingOff = await row(r1!.id);
    expect(await report(r1!.id, { outcome: 'retry', error: '502' })).toBe('queued');
    expect(await row(r1!.id)).toEqual(backingOff);
    // Yet the message had reached Telegram after all: a late sent is taken, never resent.
    expect(await report(r1!.id, { outcome: 'sent', messageIds: [41] })).toBe('sent');
    expect(await row(r1!.id)).toMatchObject({ status: 'sent', telegramMessageIds: [41] });

    // Sent, then a late failure of the same delivery: it stays sent.
    expect(await report(r2!.id, { outcome: 'sent', messageIds: [42] })).toBe('sent');
    expect(await report(r2!.id, { outcome: 'failed', error: 'Bad Request' })).toBe('sent');
    expect(await report(r2!.id, { outcome: 'sent', messageIds: [43] })).toBe('sent');
    expect(await row(r2!.id)).toMatchObject({ status: 'sent', telegramMessageIds: [42] });
  });

  it("refuses a report from another org's runner: 404, the delivery as it was", async () => {
    await t.deps.db.update(deliveries).set({ status: 'sent' }).where(eq(deliveries.botId, botId));
    await post({ text: 'mine', chatIds: [chatIds[0]] });
    const [mine] = (await internal('/deliveries/claim', { limit: 10, waitMs: 0 })).json()
      .deliveries as Array<{ id: string }>;
    const other = await signup(t);
    const theirToken = 'npr_test_other_org_runner_0123456789';
    await insertBot(t, other.orgId, { runnerToken: theirToken });
    const before = (
      await t.deps.db.select().from(deliveries).where(eq(deliveries.id, mine!.id))
    )[0];
    const res = await t.request({
      method: 'POST',
      url: `/internal/v1/deliveries/${mine!.id}/result`,
      token: theirToken,
      payload: { outcome: 'failed', error: 'not yours' },
    });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const after = (await t.deps.db.select().from(deliveries).where(eq(deliveries.id, mine!.id)))[0];
    expect(after).toEqual(before);
  });

  it('holds later deliveries to a chat while an earlier one backs off; released ones go back unattempted', async () => {
    await t.deps.db.update(deliveries).set({ status: 'sent' }).where(eq(deliveries.botId, botId));
    const chat = chatIds[1]!;
    for (const text of ['o1', 'o2', 'o3']) await post({ text, chatIds: [chat] });
    await post({ text: 'other chat', chatIds: [chatIds[0]] });
    const claim = async (limit = 10) =>
      (await internal('/deliveries/claim', { limit, waitMs: 0 })).json().deliveries as Array<{
        id: string;
        text: string;
        attempts: number;
      }>;
    const [o1, o2, o3, other] = await claim();
    expect([o1, o2, o3, other].map((d) => d!.text)).toEqual(['o1', 'o2', 'o3', 'other chat']);
    // o1 fails (5xx); the runner hands o2 and o3 back without trying them.
    await internal(`/deliveries/${o1!.id}/result`, { outcome: 'retry', error: '502' });
    for (const d of [o2, o3])
      expect(
        (await internal(`/deliveries/${d!.id}/result`, { outcome: 'released' })).json().status,
      ).toBe('queued');
    await internal(`/deliveries/${other!.id}/result`, { outcome: 'sent', messageIds: [1] });
    // o2 and o3 are due, but o1 is still backing off: nothing to that chat may go.
    expect(await claim()).toEqual([]);
    const rows = await t.deps.db.select().from(deliveries).where(eq(deliveries.chatId, chat));
    expect(
      rows
        .filter((d) => d.status === 'queued')
        .map((d) => d.attempts)
        .sort(),
    ).toEqual([0, 0, 1]);
    // Once o1 is due again, all three come in order in one claim.
    await t.deps.db
      .update(deliveries)
      .set({ nextAttemptAt: new Date(Date.now() - 1) })
      .where(eq(deliveries.id, o1!.id));
    expect((await claim()).map((d) => [d.text, d.attempts])).toEqual([
      ['o1', 2],
      ['o2', 1],
      ['o3', 1],
    ]);
  });

  it("deleting an organization deletes its deliveries (through their notifications), not another's", async () => {
    const other = await signup(t);
    const bot = await insertBot(t, other.orgId);
    const [chat] = await insertChats(t, other.orgId, 1, { botIds: [bot.id] });
    const accepted = await t.request({
      method: 'POST',
      url: `/api/v1/orgs/${other.orgId}/notifications`,
      token: other.token,
      payload: { text: 'goes with its org', chatIds: [chat!.id] },
    });
    expect(accepted.statusCode).toBe(202);
    expect((await post({ text: 'stays', chatIds: [chatIds[0]] })).statusCode).toBe(202);
    const count = async (orgId: string) =>
      (await t.deps.db.select().from(deliveries).where(eq(deliveries.orgId, orgId))).length;
    const mine = await count(owner.orgId);
    expect(await count(other.orgId)).toBe(1);

    const deleted = await t.request({
      method: 'DELETE',
      url: `/api/v1/orgs/${other.orgId}`,
      token: other.token,
    });
    expect(deleted.statusCode).toBe(204);
    expect(await count(other.orgId)).toBe(0);
    expect(await count(owner.orgId)).toBe(mine);
  });
});
