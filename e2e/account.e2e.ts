/** A new hotel night manager signs up, makes a second organization, logs out and in, reads it in Russian. */
import { describe, expect, it } from 'vitest';
import { failuresOf, useSystem } from './harness.js';
import {
  currentOrgId,
  input,
  logIn,
  logOut,
  newAccount,
  sessionToken,
  shot,
  signUp,
} from './ui.js';

const system = useSystem();

describe('account', () => {
  it('signs up, creates a second organization, logs out and back in', async () => {
    const sys = system();
    const { page } = await sys.newPage();
    const account = newAccount('night');
    await signUp(page, account);
    await expect(page.getByTestId('org-switcher').textContent()).resolves.toContain(
      account.organizationName,
    );
    const firstOrg = await currentOrgId(page);

    // The session the SPA holds is a real one.
    const me = await sys.t.request({
      method: 'GET',
      url: '/api/v1/me',
      token: await sessionToken(page),
    });
    expect(me.statusCode).toBe(200);
    expect(me.json().user.email).toBe(account.email);

    await page.getByTestId('org-switcher').click();
    await page.getByRole('option', { name: 'New organization' }).click();
    await page.getByRole('dialog').getByLabel('Organization name').fill('Hotel Aurora — Annex');
    await page.getByRole('dialog').getByRole('button', { name: 'Create' }).click();
    await page.getByTestId('org-switcher').getByText('Hotel Aurora — Annex').waitFor();
    const secondOrg = await currentOrgId(page);
    expect(secondOrg).not.toBe(firstOrg);
    const orgs = await sys.t.request({
      method: 'GET',
      url: '/api/v1/orgs',
      token: await sessionToken(page),
    });
    expect(
      orgs
        .json()
        .items.map((o: { name: string }) => o.name)
        .sort(),
    ).toEqual([account.organizationName, 'Hotel Aurora — Annex'].sort());

    await logOut(page);
    expect(await page.evaluate(() => localStorage.getItem('notifypro.token'))).toBeNull();
    await shot(page, 'login-en');

    // A wrong password is refused with the server's message, and the form stays.
    await input(page, 'email').fill(account.email);
    await input(page, 'password').fill('not the password');
    await page.locator('button[type="submit"]').click();
    await page.locator('.MuiSnackbar-root').waitFor();
    expect(await page.evaluate(() => localStorage.getItem('notifypro.token'))).toBeNull();

    await logIn(page, account.email, account.password);
    await page.getByText('Failing now').waitFor();
    await page.getByText('Everything works.').waitFor();

    // The installation's first account is its superadmin: every organization, the system log.
    await page.getByRole('menuitem', { name: 'All organizations' }).click();
    await page.getByRole('cell', { name: 'Hotel Aurora — Annex' }).waitFor();
    await page.getByRole('cell', { name: account.organizationName }).waitFor();
    await page.getByRole('menuitem', { name: 'System log' }).click();
    await page.locator('.RaList-main').waitFor();
    // The one refusal was the wrong password.
    expect(failuresOf(page)).toEqual([{ status: 401, method: 'POST', path: '/api/v1/auth/login' }]);
  });

  it('switches between English and Russian and remembers the choice after a reload', async () => {
    const sys = system();
    const { page } = await sys.newPage();
    await signUp(page, newAccount('lang'));
    await page.getByRole('menuitem', { name: 'Mailboxes' }).waitFor();
    // Not the first account: no superadmin area, and the API hides it.
    expect(await page.getByRole('menuitem', { name: 'All organizations' }).count()).toBe(0);
    const admin = await sys.t.request({
      method: 'GET',
      url: '/api/v1/admin/orgs',
      token: await sessionToken(page),
    });
    expect(admin.statusCode).toBe(404);

    await page.getByTestId('language-switcher').click();
    await page.getByRole('menuitem', { name: 'Русский' }).click();
    await page.getByRole('menuitem', { name: 'Почтовые ящики' }).waitFor();
    await page.getByRole('menuitem', { name: 'Обзор' }).waitFor();
    await expect(page.getByTestId('language-switcher').textContent()).resolves.toContain('RU');

    await page.reload();
    await page.getByRole('menuitem', { name: 'Почтовые ящики' }).waitFor();
    await page.goto('/#/mailboxes/create');
    await page.getByText('Новый почтовый ящик').first().waitFor();

    await page.getByTestId('language-switcher').click();
    await page.getByRole('menuitem', { name: 'English' }).click();
    await page.getByText('New mailbox').first().waitFor();
    expect(failuresOf(page)).toEqual([]);
  });

  it('shows the sign-in screen in Russian for a Russian browser', async () => {
    const sys = system();
    const { page } = await sys.newPage({ locale: 'ru-RU' });
    await page.goto('/#/login');
    await page.getByRole('button', { name: 'Войти' }).waitFor();
    await shot(page, 'login-ru');
  });
});
