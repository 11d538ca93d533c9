import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { addMember, insertChats, signup, type SignedUp } from '../../../test/factories.js';

let t: TestApp;
let owner: SignedUp;
let chatId: string;
let otherChatId: string;

beforeAll(async () => {
  t = await createTestApp();
  owner = await signup(t);
  const other = await signup(t);
  chatId = (await insertChats(t, owner.orgId, [{ type: 'supergroup', title: 'Ops' }]))[0]!.id;
  otherChatId = (await insertChats(t, other.orgId, 1))[0]!.id;
});
afterAll(() => t.close());

const url = () => `/api/v1/orgs/${owner.orgId}/rules`;

describe('rules API', () => {
  it('creates, reads, updates, tests and deletes a rule', async () => {
    const created = await t.request({
      method: 'POST',
      url: url(),
      token: owner.token,
      payload: {
        name: 'Critical',
        conditions: [{ field: 'subject', op: 'contains', value: 'critical' }],
        targets: [{ chatId }],
        priority: 5,
      },
    });
    expect(created.statusCode).toBe(201);
    const rule = created.json();
    expect(rule).toMatchObject({
      name: 'Critical',
      match: 'all',
      enabled: true,
      priority: 5,
      targets: [{ chatId }],
    });

    expect((await t.request({ method: 'GET', url: url(), token: owner.token })).json().total).toBe(
      1,
    );

    const hit = await t.request({
      method: 'POST',
      url: `${url()}/${rule.id}/test`,
      token: owner.token,
      payload: { event: { subject: 'CRITICAL <db>', from: 'a@b.c', text: ' hi ' } },
    });
    expect(hit.json()).toEqual({
      matched: true,
      targets: [{ chatId }],
      text: '<b>CRITICAL &lt;db&gt;</b>\nFrom: a@b.c\n\nhi',
    });
    const miss = await t.request({
      method: 'POST',
      url: `${url()}/${rule.id}/test`,
      token: owner.token,
      payload: { event: { subject: 'fine' } },
    });
    expect(miss.json()).toEqual({ matched: false, targets: [], text: null });

    const patched = await t.request({
      method: 'PATCH',
      url: `${url()}/${rule.id}`,
      token: owner.token,
      payload: { template: '{{body.x}}!', match: 'any' },
    });
    expect(patched.json()).toMatchObject({ template: '{{body.x}}!', match: 'any' });

    expect(
      (await t.request({ method: 'DELETE', url: `${url()}/${rule.id}`, token: owner.token }))
        .statusCode,
    ).toBe(204);
    expect(
      (await t.request({ method: 'GET', url: `${url()}/${rule.id}`, token: owner.token }))
        .statusCode,
    ).toBe(404);
  });

  it('refuses a target chat of another org', async () => {
    const res = await t.request({
      method: 'POST',
      url: url(),
      token: owner.token,
      payload: { name: 'x', targets: [{ chatId: otherChatId }] },
    });
    expect(res.statusCode).toBe(400);
  });

  it('refuses a catastrophic regex and a bad field', async () => {
    const bad = await t.request({
      method: 'POST',
      url: url(),
      token: owner.token,
      payload: {
        name: 'x',
        targets: [{ chatId }],
        conditions: [{ field: 'subject', op: 'regex', value: '(a+)+$' }],
      },
    });
    expect(bad.statusCode).toBe(400);
    const field = await t.request({
      method: 'POST',
      url: url(),
      token: owner.token,
      payload: { name: 'x', targets: [{ chatId }], conditions: [{ field: 'nope', op: 'exists' }] },
    });
    expect(field.statusCode).toBe(400);
  });

  it('lets a viewer read but not create', async () => {
    const viewer = await addMember(t, owner, 'viewer');
    expect((await t.request({ method: 'GET', url: url(), token: viewer.token })).statusCode).toBe(
      200,
    );
    expect(
      (
        await t.request({
          method: 'POST',
          url: url(),
          token: viewer.token,
          payload: { name: 'x', targets: [{ chatId }] },
        })
      ).statusCode,
    ).toBe(403);
  });
  it('pages, searches and sorts the list (?offset&limit&sort&order&q), by priority unless told', async () => {
    const org = await signup(t); // an org of its own: the other tests' rules stay out
    const orgChat = (await insertChats(t, org.orgId, 1))[0]!.id;
    const rows: Array<[string, number]> = [
      ['Gamma', 10],
      ['Alpha CI', 30],
      ['Delta 100%', 20],
      ['Beta CI', 20],
      ['Epsilon', 5],
    ];
    for (const [name, priority] of rows) {
      const res = await t.request({
        method: 'POST',
        url: `/api/v1/orgs/${org.orgId}/rules`,
        token: org.token,
        payload: { name, priority, targets: [{ chatId: orgChat }] },
      });
      expect(res.statusCode).toBe(201);
    }
    const list = async (query: string) => {
      const res = await t.request({
        method: 'GET',
        url: `/api/v1/orgs/${org.orgId}/rules?${query}`,
        token: org.token,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { items: Array<{ name: string }>; total: number };
      return { names: body.items.map((r) => r.name), total: body.total };
    };

    // the order they run in by default: priority ascending, ties by id (a uuid: only the untied
    // ones are pinned)
    const all = (await list('')).names;
    expect(all[0]).toBe('Epsilon');
    expect(all[1]).toBe('Gamma');
    expect(all[4]).toBe('Alpha CI');
    expect(await list('sort=name&order=asc&limit=2')).toEqual({
      names: ['Alpha CI', 'Beta CI'],
      total: 5,
    });
    expect(await list('sort=name&order=asc&limit=2&offset=4')).toEqual({
      names: ['Gamma'],
      total: 5,
    });
    expect((await list('sort=priority&order=desc&limit=1')).names).toEqual(['Alpha CI']);
    expect(await list('q=ci&sort=name&order=asc')).toEqual({
      names: ['Alpha CI', 'Beta CI'],
      total: 2,
    });
    expect(await list(`q=${encodeURIComponent('%')}`)).toEqual({
      names: ['Delta 100%'],
      total: 1,
    });
    expect(await list('q=_')).toEqual({ names: [], total: 0 });
    const bad = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${org.orgId}/rules?sort=conditions`,
      token: org.token,
    });
    expect(bad.statusCode).toBe(400);
  });
});
