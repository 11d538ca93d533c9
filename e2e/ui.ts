/** Small steps every scenario shares: fill react-admin inputs, sign up, log in, screenshots. */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { Locator, Page } from 'playwright-core';
import { artifactDir, screenshotDir } from './harness.js';

export const unique = () => randomBytes(4).toString('hex');

/** react-admin names every input after its source field, so tests do not depend on the language. */
export const input = (page: Page, source: string): Locator =>
  page.locator(`input[name="${source}"], textarea[name="${source}"]`).first();

export async function fill(page: Page, values: Record<string, string>): Promise<void> {
  for (const [source, value] of Object.entries(values)) await input(page, source).fill(value);
}

/** Picks an option of a react-admin SelectInput (MUI select) by its visible text. */
export async function choose(page: Page, source: string, option: string | RegExp): Promise<void> {
  await page.locator(`.ra-input-${source} [role="combobox"]`).first().click();
  await page.getByRole('option', { name: option }).first().click();
}

export type Account = { email: string; password: string; name: string; organizationName: string };

export function newAccount(prefix = 'user'): Account {
  const id = unique();
  return {
    email: `${prefix}-${id}@example.test`,
    password: 'correct horse battery',
    name: `${prefix} ${id}`,
    organizationName: `Org ${id}`,
  };
}

/** Signs up through the sign-up screen and waits for the dashboard. */
export async function signUp(page: Page, account: Account): Promise<void> {
  await page.goto('/#/signup');
  await fill(page, {
    name: account.name,
    email: account.email,
    password: account.password,
    organizationName: account.organizationName,
  });
  await page.locator('button[type="submit"]').click();
  await page.getByTestId('org-switcher').waitFor();
}

export async function logIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/#/login');
  await fill(page, { email, password });
  await page.locator('button[type="submit"]').click();
  await page.getByTestId('org-switcher').waitFor();
}

/** Opens the user menu and logs out; waits for the login form. */
export async function logOut(page: Page): Promise<void> {
  await page.locator('button[aria-label="Profile"], button[aria-label="Профиль"]').first().click();
  await page.getByRole('menuitem', { name: /logout|выйти/i }).click();
  await input(page, 'email').waitFor();
}

/** The org id the SPA works in (stored by the session provider). */
export async function currentOrgId(page: Page): Promise<string> {
  const id = await page.evaluate(() => localStorage.getItem('notifypro.orgId'));
  expect(id).toBeTruthy();
  return id!;
}

export async function sessionToken(page: Page): Promise<string> {
  const token = await page.evaluate(() => localStorage.getItem('notifypro.token'));
  expect(token).toBeTruthy();
  return token!;
}

/** Waits for a success notification (react-admin's snackbar) and lets it go. */
export async function expectNotice(page: Page, text: string | RegExp): Promise<void> {
  await page.locator('.MuiSnackbar-root').getByText(text).first().waitFor();
}

/**
 * Saves a screenshot as a test artifact (test-results/e2e/); with `docs` and
 * `UPDATE_SCREENSHOTS=1` in the environment, also into docs/screenshots/ (committed), so an
 * ordinary test run leaves the tree clean.
 * Waits for react-admin's loading indicator to go first.
 */
export async function shot(page: Page, name: string, opts: { docs?: boolean; dir?: string } = {}) {
  await page
    .locator('.MuiLinearProgress-root, [role="progressbar"]')
    .first()
    .waitFor({ state: 'hidden' })
    .catch(() => {});
  const dir = path.join(artifactDir, opts.dir ?? '');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`) });
  if (opts.docs && process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(screenshotDir, { recursive: true });
    await page.screenshot({ path: path.join(screenshotDir, `${name}.png`) });
  }
}
