/**
 * An owner adds staff with roles from the Staff screen; a viewer then sees no write actions,
 * and when they try anyway (a direct link to a create form, or the API with their own session)
 * the server refuses.
 */
import { describe, expect, it } from 'vitest';
import { failuresOf, useSystem } from './harness.js';
import {
  choose,
  currentOrgId,
  fill,
  logIn,
  newAccount,
  sessionToken,
  signUp,
  unique,
} from './ui.js';

const system = useSystem();

describe('staff and roles', () => {
  it('adds a viewer and an operator; the viewer cannot change anything', async () => {
    const sys = system();
    const { page: owner } = await sys.newPage();
    const account = newAccount('owner');
    await signUp(owner, account);
    const orgId = await currentOrgId(owner);
    const ownerToken = await sessionToken(owner);

    // Something for the viewer to look at: a webhook and a rule made by the owner through the API.
    const hook = await sys.t.request({
      method: 'POST',
      url: `/api/v1/orgs/${orgId}/webhooks`,
      token: ownerToken,
      payload: { name: 'Front desk alarms' },
    });
    expect(hook.statusCode).toBe(201);

    const viewer = { email: `viewer-${unique()}@example.test`, password: 'viewer password 1' };
    const addMember = async (email: string, name: string, role: RegExp, password: string) => {
      await owner.goto('/#/members/create');
      await fill(owner, { email, name, password });
      await choose(owner, 'role', role);
      await owner.locator('button[type="submit"]').click();
      await owner.getByRole('cell', { name: email }).waitFor();
    };
    await addMember(viewer.email, 'Vera Viewer', /^Viewer$/, viewer.password);
    await addMember(
      `op-${unique()}@example.test`,
      'Oleg Operator',
      /^Operator$/,
      'operator pass 1',
    );

    const members = await sys.t.request({
      method: 'GET',
      url: `/api/v1/orgs/${orgId}/members`,
      token: ownerToken,
    });
    const roles = Object.fromEntries(
      members.json().items.map((m: { name: string; role: string }) => [m.name, m.role]),
    );
    expect(roles).toMatchObject({ 'Vera Viewer': 'viewer', 'Oleg Operator': 'operator' });
    // The owner may remove the others (not themselves).
    await owner.goto('/#/members');
    await owner.getByRole('cell', { name: 'Oleg Operator' }).waitFor();
    expect(await owner.getByRole('button', { name: 'Remove' }).count()).toBe(2);

    const { page } = await sys.newPage();
    await logIn(page, viewer.email, viewer.password);
    await expect(page.getByTestId('org-switcher').textContent()).resolves.toContain('Viewer');
    const viewerToken = await sessionToken(page);

    await page.goto('/#/members');
    await page.getByRole('cell', { name: 'Oleg Operator' }).waitFor();
    expect(await page.getByRole('button', { name: 'Remove' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Create' }).count()).toBe(0);

    await page.goto('/#/webhooks');
    await page.getByRole('cell', { name: 'Front desk alarms' }).waitFor();
    expect(await page.getByRole('link', { name: 'Create' }).count()).toBe(0);
    await page.getByRole('cell', { name: 'Front desk alarms' }).click();
    await page.getByText('curl -X POST').waitFor();
    await page.reload(); // the show page from the server, not from the list's cache
    await page.getByText('curl -X POST').waitFor();
    expect(await page.getByRole('button', { name: 'Delete' }).count()).toBe(0);

    for (const resource of ['rules', 'mailboxes', 'notifications', 'api-keys']) {
      await page.goto(`/#/${resource}`);
      await page.locator('.RaList-main').waitFor();
      expect(await page.getByRole('link', { name: 'Create' }).count(), resource).toBe(0);
    }

    // A typed URL of a create form shows no form (react-admin falls back to the list).
    await page.goto('/#/webhooks/create');
    await page.locator('.RaList-main').waitFor();
    expect(await page.locator('input[name="name"]').count()).toBe(0);

    // Their own session token, straight at the API: the server refuses every write.
    for (const [url, payload] of [
      [`/api/v1/orgs/${orgId}/webhooks`, { name: 'x' }],
      [`/api/v1/orgs/${orgId}/members`, { email: 'x@example.test', name: 'x', role: 'viewer' }],
      [`/api/v1/orgs/${orgId}/notifications`, { text: 'x', chatIds: [] }],
    ] as const) {
      const res = await sys.t.request({ method: 'POST', url, token: viewerToken, payload });
      expect(res.statusCode, url).toBe(403);
    }
    const del = await sys.t.request({
      method: 'DELETE',
      url: `/api/v1/orgs/${orgId}/webhooks/${hook.json().id}`,
      token: viewerToken,
    });
    expect(del.statusCode).toBe(403);
    const hooks = await sys.t.request({
      method: 'GET',
      url: `/api/v1/orgs/${orgId}/webhooks`,
      token: ownerToken,
    });
    expect(hooks.json().items.map((h: { name: string }) => h.name)).toEqual(['Front desk alarms']);
    expect(failuresOf(owner)).toEqual([]);
    expect(failuresOf(page)).toEqual([]);
  });

  it('creates an API key that is shown once and works, then revokes it', async () => {
    const sys = system();
    const { page } = await sys.newPage();
    await signUp(page, newAccount('admin'));
    await page.goto('/#/api-keys/create');
    await fill(page, { name: 'Shop backend' });
    await choose(page, 'role', /^Operator$/);
    await page.locator('button[type="submit"]').click();
    const key = (await page.getByTestId('secret-value').first().textContent())!.trim();
    expect(key).toMatch(/^npk_/);
    // The usage example on the page works as shown.
    const curl = (await page.getByTestId('secret-value').nth(1).textContent())!;
    const url = curl.match(/(http:\/\/\S+)/)![1]!;
    const use = async () => {
      const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
      await res.text();
      return res.status;
    };
    expect(await use()).toBe(200);

    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('cell', { name: 'Shop backend' }).waitFor();
    expect(await page.getByText(key).count()).toBe(0);
    await page.getByRole('button', { name: 'Revoke' }).click();
    const revoked = page.waitForResponse((r) => r.request().method() === 'DELETE');
    await page
      .getByRole('dialog')
      .getByRole('button', { name: /confirm/i })
      .click();
    expect((await revoked).status()).toBe(204);
    await page.getByRole('cell', { name: 'Shop backend' }).waitFor({ state: 'detached' });
    expect(await use()).toBe(401);
    expect(failuresOf(page)).toEqual([]);
  });
});
