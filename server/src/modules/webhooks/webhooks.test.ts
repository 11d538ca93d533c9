import { createHmac } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveries, events, logs, notifications } from '../../db/schema.js';
import { createTestApp, type TestApp } from '../../../test/app.js';
import {
  addMember,
  insertBot,
  insertChats,
  linkBotChats,
  signup,
  type SignedUp,
} from '../../../test/factories.js';

let t: TestApp;
let owner: SignedUp;

beforeAll(async () => {
  t = await createTestApp({ PUBLIC_URL: 'https://notify.example.com' });
  owner = await signup(t);
});
afterAll(() => t.close());

const create = async (payload: Record<string, unknown>) => {
  const res = await t.request({
    method: 'POST',
    url: `/api/v1/orgs/${owner.orgId}/webhooks`,
    token: owner.token,
    payload,
  });
  expect(res.statusCode).toBe(201);
  return res.json() as { id: string; url: string; token: string };
};

describe('webhooks', () => {
  it('creates a webhook with its public URL and takes a JSON body as an event that rules see', async () => {
    const chatId = (await insertChats(t, owner.orgId, 1))[0]!.id;
    const hook = await create({ name: 'CI' });
    expect(hook.url).toBe(`https://notify.example.com/hooks/${hook.token}`);
    const rule = (
      await t.request({
        method: 'POST',
        url: `/api/v1/orgs/${owner.orgId}/rules`,
        token: owner.token,
        payload: {
          name: 'high',
          targets: [{ chatId }],
          conditions: [{ field: 'body.level', op: 'equals', value: 'high' }],
        },
      })
    ).json();

    const res = await t.request({
      method: 'POST',
      url: `/hooks/${hook.token}`,
      payload: { level: 'high', msg: 'x' },
    });
    expect(res.statusCode).toBe(202);
    const [event] = await t.deps.db.select().from(events).where(eq(events.id, res.json().eventId));
    expect(event).toMatchObject({
      source: 'webhook',
      webhookId: hook.id,
      matchedRuleIds: [rule.id],
    });
    expect(event!.payload.body).toEqual({ level: 'high', msg: 'x' });
    // No bot is linked to the chat yet: the rule's failure is logged, the event still stands.
    const logged = await t.deps.db.select().from(logs).where(eq(logs.orgId, owner.orgId));
    expect(logged.some((l) => l.source === 'rules' && l.level === 'error')).toBe(true);

    const bot = await insertBot(t, owner.orgId);
    await linkBotChats(t, owner.orgId, bot.id, [chatId]);
    const again = await t.request({
      method: 'POST',
      url: `/hooks/${hook.token}`,
      payload: { level: 'HIGH', msg: 'y <z>' },
    });
    const [n] = await t.deps.db
      .select()
      .from(notifications)
      .where(eq(notifications.eventId, again.json().eventId));
    expect(n).toMatchObject({ ruleId: rule.id, source: 'webhook', format: 'html' });
    const queued = await t.deps.db
      .select()
      .from(deliveries)
      .where(eq(deliveries.notificationId, n!.id));
    expect(queued).toMatchObject([{ chatId, botId: bot.id, status: 'queued' }]);

    const listed = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${owner.orgId}/events?source=webhook`,
      token: owner.token,
    });
    expect(listed.json().items[0]).toMatchObject({
      id: again.json().eventId,
      matchedRuleIds: [rule.id],
    });
    const one = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${owner.orgId}/events/${again.json().eventId}`,
      token: owner.token,
    });
    expect(one.json().payload.body).toEqual({ level: 'HIGH', msg: 'y <z>' });
    // Where it went: the event's deliveries, with the rule that made them.
    expect(one.json().deliveries).toEqual([
      {
        id: queued[0]!.id,
        notificationId: n!.id,
        ruleId: rule.id,
        chatId,
        botId: bot.id,
        status: 'queued',
      },
    ]);
  });

  it("reads one webhook (404 for another org's) and lists only its own calls as events", async () => {
    const a = await create({ name: 'A' });
    const b = await create({ name: 'B' });
    const one = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${owner.orgId}/webhooks/${a.id}`,
      token: owner.token,
    });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id: a.id, name: 'A', url: a.url });
    expect(one.json().token).toBeUndefined();
    const other = await signup(t);
    const foreign = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${other.orgId}/webhooks/${a.id}`,
      token: other.token,
    });
    expect(foreign.statusCode).toBe(404);

    for (const hook of [a, b, b])
      expect(
        (await t.request({ method: 'POST', url: `/hooks/${hook.token}`, payload: {} })).statusCode,
      ).toBe(202);
    const calls = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${owner.orgId}/events?webhookId=${b.id}`,
      token: owner.token,
    });
    expect(calls.json().total).toBe(2);
    expect(calls.json().items.every((e: { webhookId: string }) => e.webhookId === b.id)).toBe(true);
    // Search by subject (or sender); % and _ are literal.
    await t.request({
      method: 'POST',
      url: `/hooks/${a.token}`,
      payload: { subject: 'Disk 100% full' },
    });
    const search = (q: string) =>
      t.request({
        method: 'GET',
        url: `/api/v1/orgs/${owner.orgId}/events?q=${encodeURIComponent(q)}`,
        token: owner.token,
      });
    expect(
      (await search('disk 100%')).json().items.map((e: { subject: string }) => e.subject),
    ).toEqual(['Disk 100% full']);
    expect((await search('0_%')).json().total).toBe(0);
  });

  it('shows viewers the URL without its token (a secret), operators the whole URL', async () => {
    const hook = await create({ name: 'PMS' });
    const viewer = await addMember(t, owner, 'viewer');
    const operator = await addMember(t, owner, 'operator');
    const seen = async (token: string) => {
      const one = await t.request({
        method: 'GET',
        url: `/api/v1/orgs/${owner.orgId}/webhooks/${hook.id}`,
        token,
      });
      const list = await t.request({
        method: 'GET',
        url: `/api/v1/orgs/${owner.orgId}/webhooks`,
        token,
      });
      return [one.body, list.body].join('\n');
    };
    const byViewer = await seen(viewer.token);
    expect(byViewer).not.toContain(hook.token);
    expect(byViewer).toContain(`/hooks/…${hook.token.slice(-4)}`);
    expect(await seen(operator.token)).toContain(hook.token);
  });

  it('takes a form body', async () => {
    const hook = await create({ name: 'form' });
    const res = await t.request({
      method: 'POST',
      url: `/hooks/${hook.token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'a=1&b=two',
    });
    expect(res.statusCode).toBe(202);
    const [event] = await t.deps.db.select().from(events).where(eq(events.id, res.json().eventId));
    expect(event!.payload.body).toEqual({ a: '1', b: 'two' });
  });

  it('checks the HMAC signature when a secret is set: bad or missing → 401', async () => {
    const hook = await create({ name: 'signed', hmacSecret: 'supersecret' });
    const body = JSON.stringify({ ok: true });
    const sig = `sha256=${createHmac('sha256', 'supersecret').update(body).digest('hex')}`;
    const headers = { 'content-type': 'application/json' };
    expect(
      (
        await t.request({
          method: 'POST',
          url: `/hooks/${hook.token}`,
          headers: { ...headers, 'x-notifypro-signature': sig },
          payload: body,
        })
      ).statusCode,
    ).toBe(202);
    expect(
      (
        await t.request({
          method: 'POST',
          url: `/hooks/${hook.token}`,
          headers: { ...headers, 'x-notifypro-signature': 'sha256=00' },
          payload: body,
        })
      ).statusCode,
    ).toBe(401);
    expect(
      (await t.request({ method: 'POST', url: `/hooks/${hook.token}`, headers, payload: body }))
        .statusCode,
    ).toBe(401);
  });

  it('renames, disables and re-enables a webhook, and sets and removes its HMAC secret', async () => {
    const hook = await create({ name: 'To change' });
    const url = `/api/v1/orgs/${owner.orgId}/webhooks/${hook.id}`;
    const patch = (payload: object) =>
      t.request({ method: 'PATCH', url, token: owner.token, payload });
    const call = (headers: Record<string, string> = {}) =>
      t.request({
        method: 'POST',
        url: `/hooks/${hook.token}`,
        headers: { 'content-type': 'application/json', ...headers },
        payload: '{"a":1}',
      });
    const renamed = await patch({ name: 'Changed', enabled: false });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ name: 'Changed', enabled: false, hasHmacSecret: false });
    expect((await call()).statusCode).toBe(404);
    const signed = await patch({ enabled: true, hmacSecret: 'a new hmac secret' });
    expect(signed.json()).toMatchObject({ enabled: true, hasHmacSecret: true });
    expect(signed.body).not.toContain('a new hmac secret');
    expect((await call()).statusCode).toBe(401);
    const sig = `sha256=${createHmac('sha256', 'a new hmac secret').update('{"a":1}').digest('hex')}`;
    expect((await call({ 'x-notifypro-signature': sig })).statusCode).toBe(202);
    expect((await patch({ hmacSecret: null })).json()).toMatchObject({ hasHmacSecret: false });
    expect((await call()).statusCode).toBe(202);
    expect((await patch({ token: 'x' })).statusCode).toBe(400);
  });

  it('answers 404 for an unknown token and 413 for an oversize body', async () => {
    expect(
      (await t.request({ method: 'POST', url: '/hooks/nope', payload: { a: 1 } })).statusCode,
    ).toBe(404);
    const hook = await create({ name: 'big' });
    const res = await t.request({
      method: 'POST',
      url: `/hooks/${hook.token}`,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ x: 'a'.repeat(300 * 1024) }),
    });
    expect(res.statusCode).toBe(413);
  });

  it('pages, searches and sorts the list like the other lists (?offset&limit&sort&order&q)', async () => {
    const org = await signup(t); // an org of its own: the other tests' webhooks stay out
    const hooks: Record<string, { id: string; token: string }> = {};
    for (const name of ['Gamma', 'Alpha CI', 'Delta 100%', 'Beta CI', 'Epsilon']) {
      const res = await t.request({
        method: 'POST',
        url: `/api/v1/orgs/${org.orgId}/webhooks`,
        token: org.token,
        payload: { name },
      });
      hooks[name] = res.json();
    }
    const list = async (query: string) => {
      const res = await t.request({
        method: 'GET',
        url: `/api/v1/orgs/${org.orgId}/webhooks?${query}`,
        token: org.token,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { items: Array<{ name: string }>; total: number };
      return { names: body.items.map((w) => w.name), total: body.total };
    };

    expect(await list('sort=name&order=asc&limit=2')).toEqual({
      names: ['Alpha CI', 'Beta CI'],
      total: 5,
    });
    expect(await list('sort=name&order=asc&limit=2&offset=2')).toEqual({
      names: ['Delta 100%', 'Epsilon'],
      total: 5,
    });
    expect(await list('sort=name&order=asc&limit=2&offset=4')).toEqual({
      names: ['Gamma'],
      total: 5,
    });
    expect((await list('sort=name&order=desc&limit=1')).names).toEqual(['Gamma']);
    // newest first by default
    expect((await list('limit=5')).names).toEqual([
      'Epsilon',
      'Beta CI',
      'Delta 100%',
      'Alpha CI',
      'Gamma',
    ]);
    // q: part of the name, any case; % and _ are taken literally
    expect(await list('q=ci&sort=name&order=asc')).toEqual({
      names: ['Alpha CI', 'Beta CI'],
      total: 2,
    });
    expect(await list(`q=${encodeURIComponent('%')}`)).toEqual({
      names: ['Delta 100%'],
      total: 1,
    });
    expect(await list('q=_')).toEqual({ names: [], total: 0 });

    // the one called most recently first; webhooks never called go last in either order
    const called = await t.request({
      method: 'POST',
      url: `/hooks/${hooks['Delta 100%']!.token}`,
      payload: { a: 1 },
    });
    expect(called.statusCode).toBe(202);
    expect((await list('sort=lastCalledAt&order=desc&limit=1')).names).toEqual(['Delta 100%']);
    expect((await list('sort=lastCalledAt&order=asc&limit=1')).names).toEqual(['Delta 100%']);

    const bad = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${org.orgId}/webhooks?sort=token`,
      token: org.token,
    });
    expect(bad.statusCode).toBe(400);
  });
});
