import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { addMember, createApiKey, signup } from '../../../test/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe('organizations', () => {
  it('creates, lists, renames with UI settings, and deletes an organization', async () => {
    const a = await signup(t);
    const created = await t.request({
      method: 'POST',
      url: '/api/v1/orgs',
      token: a.token,
      payload: { name: 'Second shop' },
    });
    expect(created.statusCode).toBe(201);
    const org = created.json();
    expect(org).toMatchObject({ name: 'Second shop', role: 'owner' });
    const list = await t.request({ method: 'GET', url: '/api/v1/orgs', token: a.token });
    expect(list.json().items.map((o: { name: string }) => o.name)).toContain('Second shop');
    const patched = await t.request({
      method: 'PATCH',
      url: `/api/v1/orgs/${org.id}`,
      token: a.token,
      payload: {
        name: 'Renamed',
        settings: {
          theme: { primaryColor: '#aa3300', mode: 'dark' },
          language: 'ru',
          icons: { bots: 'SmartToy' },
        },
      },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({
      name: 'Renamed',
      settings: { language: 'ru', theme: { primaryColor: '#aa3300' } },
    });
    const bad = await t.request({
      method: 'PATCH',
      url: `/api/v1/orgs/${org.id}`,
      token: a.token,
      payload: { settings: { theme: { primaryColor: 'red' } } },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0].path).toContain('primaryColor');
    for (const logoUrl of [
      '/branding/logo.svg',
      'https://cdn.example.com/l.png',
      'data:image/png;base64,iVBORw0KGgo=',
      "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'%3E%3C/svg%3E",
      '',
    ])
      expect(
        (
          await t.request({
            method: 'PATCH',
            url: `/api/v1/orgs/${org.id}`,
            token: a.token,
            payload: { settings: { logoUrl } },
          })
        ).statusCode,
        logoUrl,
      ).toBe(200);
    for (const logoUrl of [
      'javascript:alert(1)',
      'data:text/html,<script>x</script>',
      'logo.png',
      'data:image/png,a\nb',
    ])
      expect(
        (
          await t.request({
            method: 'PATCH',
            url: `/api/v1/orgs/${org.id}`,
            token: a.token,
            payload: { settings: { logoUrl } },
          })
        ).statusCode,
        logoUrl,
      ).toBe(400);
    expect(
      (await t.request({ method: 'DELETE', url: `/api/v1/orgs/${org.id}`, token: a.token }))
        .statusCode,
    ).toBe(204);
    expect(
      (await t.request({ method: 'GET', url: `/api/v1/orgs/${org.id}`, token: a.token }))
        .statusCode,
    ).toBe(404);
  });
});

describe('members', () => {
  it('adds a member (creating the account), changes the role and removes them', async () => {
    const owner = await signup(t);
    const added = await t.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/members`,
      token: owner.token,
      payload: { email: 'night.manager@example.test', name: 'Night Manager', role: 'operator' },
    });
    expect(added.statusCode).toBe(201);
    expect(added.json()).toMatchObject({ email: 'night.manager@example.test', role: 'operator' });
    expect(added.json().temporaryPassword).toEqual(expect.any(String));
    const userId = added.json().userId;
    const login = await t.request({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'night.manager@example.test', password: added.json().temporaryPassword },
    });
    expect(login.statusCode).toBe(200);
    const again = await t.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/members`,
      token: owner.token,
      payload: { email: 'night.manager@example.test', name: 'X', role: 'viewer' },
    });
    expect(again.statusCode).toBe(409);
    const changed = await t.request({
      method: 'PATCH',
      url: `/api/v1/orgs/${owner.orgId}/members/${userId}`,
      token: owner.token,
      payload: { role: 'viewer' },
    });
    expect(changed.json().role).toBe('viewer');
    const members = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${owner.orgId}/members`,
      token: owner.token,
    });
    expect(members.json().total).toBe(2);
    expect(
      (
        await t.request({
          method: 'DELETE',
          url: `/api/v1/orgs/${owner.orgId}/members/${userId}`,
          token: owner.token,
        })
      ).statusCode,
    ).toBe(204);
  });

  it("cuts a removed member's sessions off the org at once", async () => {
    const owner = await signup(t);
    const op = await addMember(t, owner, 'operator');
    expect(
      (await t.request({ method: 'GET', url: `/api/v1/orgs/${owner.orgId}`, token: op.token }))
        .statusCode,
    ).toBe(200);
    await t.request({
      method: 'DELETE',
      url: `/api/v1/orgs/${owner.orgId}/members/${op.userId}`,
      token: owner.token,
    });
    expect(
      (await t.request({ method: 'GET', url: `/api/v1/orgs/${owner.orgId}`, token: op.token }))
        .statusCode,
    ).toBe(404);
  });

  it('never lets anyone grant a role above their own, nor admins touch owners', async () => {
    const owner = await signup(t);
    const admin = await addMember(t, owner, 'admin');
    const url = `/api/v1/orgs/${owner.orgId}/members`;
    const asOwner = await t.request({
      method: 'POST',
      url,
      token: admin.token,
      payload: { email: 'x@example.test', name: 'X', role: 'owner' },
    });
    expect(asOwner.statusCode).toBe(403);
    const demoteOwner = await t.request({
      method: 'PATCH',
      url: `${url}/${owner.userId}`,
      token: admin.token,
      payload: { role: 'viewer' },
    });
    expect(demoteOwner.statusCode).toBe(403);
    const removeOwner = await t.request({
      method: 'DELETE',
      url: `${url}/${owner.userId}`,
      token: admin.token,
    });
    expect(removeOwner.statusCode).toBe(403);
    const key = await t.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/api-keys`,
      token: admin.token,
      payload: { name: 'k', role: 'owner' },
    });
    expect(key.statusCode).toBe(403);
  });

  it('keeps the last owner: no demotion, no removal', async () => {
    const owner = await signup(t);
    const url = `/api/v1/orgs/${owner.orgId}/members/${owner.userId}`;
    expect(
      (await t.request({ method: 'PATCH', url, token: owner.token, payload: { role: 'admin' } }))
        .statusCode,
    ).toBe(409);
    expect((await t.request({ method: 'DELETE', url, token: owner.token })).statusCode).toBe(409);
    const second = await addMember(t, owner, 'admin');
    await t.request({
      method: 'PATCH',
      url: `/api/v1/orgs/${owner.orgId}/members/${second.userId}`,
      token: owner.token,
      payload: { role: 'owner' },
    });
    expect(
      (await t.request({ method: 'PATCH', url, token: owner.token, payload: { role: 'admin' } }))
        .statusCode,
    ).toBe(200);
  });
});

describe('API keys', () => {
  it('shows the value once, works inside its org only, and stops at once when revoked', async () => {
    const owner = await signup(t);
    const other = await signup(t);
    const created = await createApiKey(t, owner, 'operator');
    expect(created.key).toMatch(/^npk_/);
    const list = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${owner.orgId}/api-keys`,
      token: owner.token,
    });
    expect(JSON.stringify(list.json())).not.toContain(created.key);
    expect(list.json().items[0].keyHint).toBe(`…${created.key.slice(-4)}`);
    expect(
      (
        await t.request({
          method: 'GET',
          url: `/api/v1/orgs/${owner.orgId}/members`,
          token: created.key,
        })
      ).statusCode,
    ).toBe(200);
    expect(
      (
        await t.request({
          method: 'GET',
          url: `/api/v1/orgs/${other.orgId}/members`,
          token: created.key,
        })
      ).statusCode,
    ).toBe(404);
    expect(
      (await t.request({ method: 'GET', url: '/api/v1/me', token: created.key })).statusCode,
    ).toBe(403);
    expect(
      (
        await t.request({
          method: 'DELETE',
          url: `/api/v1/orgs/${owner.orgId}/api-keys/${created.id}`,
          token: owner.token,
        })
      ).statusCode,
    ).toBe(204);
    expect(
      (
        await t.request({
          method: 'GET',
          url: `/api/v1/orgs/${owner.orgId}/members`,
          token: created.key,
        })
      ).statusCode,
    ).toBe(401);
  });

  it('refuses an expired key', async () => {
    const owner = await signup(t);
    const past = await t.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/api-keys`,
      token: owner.token,
      payload: { name: 'k', role: 'viewer', expiresAt: '2020-01-01T00:00:00Z' },
    });
    expect(past.statusCode).toBe(400);
  });
});

describe('audit log', () => {
  it('records who changed what, without secrets', async () => {
    const owner = await signup(t);
    const key = await createApiKey(t, owner, 'admin');
    await t.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/members`,
      token: key.key,
      payload: {
        email: 'audited@example.test',
        name: 'A',
        role: 'viewer',
        password: 'secret password 1',
      },
    });
    const res = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${owner.orgId}/audit-log`,
      token: owner.token,
    });
    const items = res.json().items as Array<{
      action: string;
      actorType: string;
      actorLabel: string;
      ip: string;
    }>;
    expect(items.map((i) => i.action)).toEqual(
      expect.arrayContaining(['organization.create', 'api_key.create', 'member.add']),
    );
    const memberAdd = items.find((i) => i.action === 'member.add')!;
    expect(memberAdd.actorType).toBe('api_key');
    expect(memberAdd.ip).toBeTruthy();
    expect(JSON.stringify(items)).not.toContain(key.key);
    expect(JSON.stringify(items)).not.toContain('secret password 1');
  });
});
