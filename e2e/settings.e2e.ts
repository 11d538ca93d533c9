/**
 * An owner brands the organization (dark theme by default, a colour, a logo) and the choice
 * survives a reload; each member can still flip the theme for themselves. The audit log
 * lists who changed it.
 */
import { describe, expect, it } from 'vitest';
import { failuresOf, useSystem } from './harness.js';
import { currentOrgId, expectNotice, newAccount, sessionToken, shot, signUp } from './ui.js';

const system = useSystem();

const LOGO =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 40 40'%3E%3Ccircle cx='20' cy='20' r='18' fill='%23ffb300'/%3E%3C/svg%3E";
const bodyBackground = (page: import('playwright-core').Page) =>
  page.evaluate(() => getComputedStyle(document.body).backgroundColor);

describe('UI settings', () => {
  it('saves theme, colour and logo for the organization; they persist across a reload', async () => {
    const sys = system();
    const { page } = await sys.newPage();
    const account = newAccount('brand');
    await signUp(page, account);
    const orgId = await currentOrgId(page);
    const light = await bodyBackground(page);

    await page.goto('/#/settings');
    await page.getByLabel('Default theme').click();
    await page.getByRole('option', { name: 'Dark' }).click();
    await page.getByLabel('HEX').fill('#6a1b9a');
    await page.getByLabel('Logo URL').fill(LOGO);
    // The preview applies before saving.
    await page.locator(`header img[src^="data:image/svg+xml"]`).waitFor();
    await page.getByRole('button', { name: 'Save' }).click();
    await expectNotice(page, 'Settings saved');

    const org = await sys.t.request({
      method: 'GET',
      url: `/api/v1/orgs/${orgId}`,
      token: await sessionToken(page),
    });
    expect(org.json().settings).toMatchObject({
      theme: { mode: 'dark', primaryColor: '#6a1b9a' },
      logoUrl: LOGO,
    });

    await page.reload();
    await page.locator(`header img[src="${LOGO}"]`).waitFor();
    await page.waitForFunction(
      (before) => getComputedStyle(document.body).backgroundColor !== before,
      light,
    );
    const dark = await bodyBackground(page);
    expect(dark).not.toBe(light);
    await page.goto('/#/');
    await page.getByText('Failing now').waitFor();
    await shot(page, 'dashboard-dark-en');

    // A member's own toggle wins over the organization's default, and is remembered.
    await page.getByRole('button', { name: 'Toggle light/dark mode' }).click();
    await page.waitForFunction((d) => getComputedStyle(document.body).backgroundColor !== d, dark);
    await page.reload();
    await page.getByText('Failing now').waitFor();
    expect(await bodyBackground(page)).toBe(light);

    // Who changed it, in the audit log.
    await page.goto('/#/audit-log');
    await page.getByRole('cell', { name: 'organization.update' }).first().waitFor();
    await page.getByRole('cell', { name: account.email }).first().waitFor();
    await shot(page, 'audit-log-en');
    expect(failuresOf(page)).toEqual([]);
  });
});
