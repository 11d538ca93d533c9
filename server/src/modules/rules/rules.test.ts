import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chats } from '../../db/schema.js';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { addMember, signup, type SignedUp } from '../../../test/factories.js';

let t: TestApp;
let owner: SignedUp;
let chatId: string;
let otherChatId: string;

beforeAll(async () => {
  t = await createTestApp();
  owner = await signup(t);
  const other = await signup(t);
  [{ id: chatId }] = (await t.deps.db
    .insert(chats)
    .values({ orgId: owner.orgId, telegramChatId: -1001, type: 'supergroup', title: 'Ops' })
    .returning({ id: chats.id })) as [{ id: string }];
  [{ id: otherChatId }] = (await t.deps.db
    .insert(chats)
    .values({ orgId: other.orgId, telegramChatId: -1002, type: 'group' })
    .returning({ id: chats.id })) as [{ id: string }];
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
});
