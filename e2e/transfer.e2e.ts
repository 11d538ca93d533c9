/**
 * An owner backs the organization up from the Settings screen (a JSON file, with or without its
 * secrets sealed by a passphrase), loses a webhook, and imports the file back: the webhook is
 * there again and the screen says what the import did. An admin may download, not import.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { failuresOf, useSystem } from './harness.js';
import {
  currentOrgId,
  expectNotice,
  logIn,
  newAccount,
  sessionToken,
  shot,
  signUp,
  unique,
} from './ui.js';

const system = useSystem();

describe('backup and transfer', () => {
  it('downloads the configuration, imports it back after a webhook was deleted', async () => {
    const sys = system();
    const { page } = await sys.newPage();
    const account = newAccount('backup');
    await signUp(page, account);
    const orgId = await currentOrgId(page);
    const token = await sessionToken(page);
    const hook = await sys.t.request({
      method: 'POST',
      url: `/api/v1/orgs/${orgId}/webhooks`,
      token,
      payload: { name: 'Front desk alarms', hmacSecret: 'front desk hmac secret' },
    });
    expect(hook.statusCode).toBe(201);

    await page.goto('/#/settings');
    const card = page.getByTestId('transfer');
    const downloadOf = async (button: string) => {
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        card.getByRole('button', { name: button }).click(),
      ]);
      const file = await download.path();
      return {
        name: download.suggestedFilename(),
        file,
        doc: JSON.parse(readFileSync(file, 'utf8')),
      };
    };
    const plain = await downloadOf('Download without secrets');
    expect(plain.name).toMatch(/^notifypro-.+-\d{4}-\d{2}-\d{2}\.json$/);
    expect(plain.doc.format).toBe('notifypro-org-export');
    expect(plain.doc.secrets).toBeNull();
    expect(plain.doc.webhooks.map((w: { name: string }) => w.name)).toEqual(['Front desk alarms']);

    // With secrets: only once the passphrase is long enough; the secrets come sealed.
    const sealedButton = card.getByRole('button', { name: 'Download with secrets (sealed)' });
    await card.getByLabel('Passphrase for the secrets').fill('short');
    expect(await sealedButton.isDisabled()).toBe(true);
    await card.getByLabel('Passphrase for the secrets').fill('night manager 2026');
    const sealed = await downloadOf('Download with secrets (sealed)');
    expect(sealed.doc.secrets).toBeTruthy();
    expect(JSON.stringify(sealed.doc)).not.toContain('front desk hmac secret');

    const removed = await sys.t.request({
      method: 'DELETE',
      url: `/api/v1/orgs/${orgId}/webhooks/${hook.json().id}`,
      token,
    });
    expect(removed.statusCode).toBe(204);

    // A wrong passphrase: the server's refusal on the page, nothing imported.
    await page.getByTestId('transfer-file').setInputFiles(sealed.file);
    await card.getByLabel('Passphrase of the file').fill('day manager 2026');
    await card.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('.MuiSnackbar-root').getByText('Wrong passphrase').waitFor();
    const refused = await sys.t.request({
      method: 'GET',
      url: `/api/v1/orgs/${orgId}/webhooks`,
      token,
    });
    expect(refused.json().items).toEqual([]);

    await page.getByTestId('transfer-file').setInputFiles(sealed.file);
    await card.getByLabel('Passphrase of the file').fill('night manager 2026');
    await card.getByRole('button', { name: 'Import', exact: true }).click();
    await expectNotice(page, 'Import done');
    const summary = page.getByTestId('import-summary');
    await summary.getByText('Imported; organization unchanged').waitFor();
    const webhooksRow = summary.getByRole('row', { name: /^Webhooks/ });
    expect(await webhooksRow.getByRole('cell').allInnerTexts()).toEqual([
      'Webhooks',
      '1',
      '0',
      '0',
    ]);
    await summary.scrollIntoViewIfNeeded();
    await shot(page, 'settings-transfer-en');

    const after = await sys.t.request({
      method: 'GET',
      url: `/api/v1/orgs/${orgId}/webhooks`,
      token,
    });
    expect(after.json().items.map((w: { name: string }) => w.name)).toEqual(['Front desk alarms']);
    // Back with the same URL, and enabled: its HMAC secret came out of the sealed box.
    expect(after.json().items[0]).toMatchObject({
      url: hook.json().url,
      hasHmacSecret: true,
      enabled: true,
    });

    // A file that is not JSON is refused on the page, before any request.
    await page.getByTestId('transfer-file').setInputFiles({
      name: 'notes.json',
      mimeType: 'application/json',
      buffer: Buffer.from('not json at all'),
    });
    await card.getByRole('button', { name: 'Import', exact: true }).click();
    await page.locator('.MuiSnackbar-root').getByText('not an export document').waitFor();
    // The one refusal the page met is the wrong passphrase's.
    expect(failuresOf(page)).toEqual([
      { status: 400, method: 'POST', path: `/api/v1/orgs/${orgId}/import` },
    ]);

    // The plain file also makes a new organization, from the switcher: its name from the file,
    // the webhook with a new URL (this installation has its token), shown until "Open".
    await page.goto('/#/');
    await page.getByTestId('org-switcher').click();
    await page.getByRole('option', { name: 'New organization' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByTestId('new-org-file').setInputFiles(plain.file);
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.getByText('Imported; organization created').waitFor();
    await dialog.getByText(/webhook Front desk alarms: its token is in use/).waitFor();
    expect(
      await dialog
        .getByRole('row', { name: /^Webhooks/ })
        .getByRole('cell')
        .allInnerTexts(),
    ).toEqual(['Webhooks', '1', '0', '0']);
    await shot(page, 'new-org-from-file-en');
    await dialog.getByRole('button', { name: 'Open the organization' }).click();
    await page.waitForFunction((first) => localStorage.getItem('notifypro.orgId') !== first, orgId);
    const copyId = await currentOrgId(page);
    const copied = await sys.t.request({
      method: 'GET',
      url: `/api/v1/orgs/${copyId}/webhooks`,
      token,
    });
    expect(copied.json().items.map((w: { name: string }) => w.name)).toEqual(['Front desk alarms']);
    expect(copied.json().items[0].url).not.toBe(hook.json().url);
    expect(failuresOf(page)).toHaveLength(1);

    // An admin downloads, and is offered no import.
    const admin = { email: `admin-${unique()}@example.test`, password: 'admin password 1' };
    const added = await sys.t.request({
      method: 'POST',
      url: `/api/v1/orgs/${orgId}/members`,
      token,
      payload: { ...admin, name: 'Ada Admin', role: 'admin' },
    });
    expect(added.statusCode).toBe(201);
    const { page: adminPage } = await sys.newPage();
    await logIn(adminPage, admin.email, admin.password);
    await adminPage.goto('/#/settings');
    const adminCard = adminPage.getByTestId('transfer');
    await adminCard.getByRole('button', { name: 'Download without secrets' }).waitFor();
    expect(await adminCard.getByRole('button', { name: 'Import', exact: true }).count()).toBe(0);
    expect(await adminCard.getByLabel('Passphrase for the secrets').count()).toBe(0);
    expect(failuresOf(adminPage)).toEqual([]);
  });
});
