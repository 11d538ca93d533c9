/**
 * Alerts on screen: an admin picks the alert chat and the threshold in Settings → Alerts; a
 * bot that stays in error past it fires an alert (the worker's housekeeping), which the
 * dashboard's Failing now card shows — what, since when — in English and in Russian; once
 * the bot works again the card says all is well.
 */
import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { alerts, bots, notifications } from '../server/src/db/schema.js';
import { createLogger } from '../server/src/logger.js';
import { startHousekeeping } from '../server/src/worker/housekeeping.js';
import { insertBot, insertChats } from '../server/test/factories.js';
import { failuresOf, useSystem } from './harness.js';
import { currentOrgId, expectNotice, newAccount, sessionToken, shot, signUp } from './ui.js';

const system = useSystem();

describe('alerts', () => {
  it('Settings → Alerts picks the chat and threshold; a fired alert shows on the dashboard until resolved', async () => {
    const sys = system();
    const { db } = sys.t.deps;
    const { page } = await sys.newPage();
    await signUp(page, newAccount('alerts'));
    const orgId = await currentOrgId(page);
    const bot = (name: string, status: 'running' | 'error') =>
      insertBot(sys.t, orgId, {
        name,
        token: 'x',
        status,
        lastHeartbeatAt: new Date(),
        lastError: status === 'error' ? 'Telegram refused the token (401 Unauthorized)' : null,
      });
    const helper = await bot('Night desk bot', 'running');
    const [chat] = await insertChats(sys.t, orgId, [{ title: 'Duty officers' }], {
      botIds: [helper.id],
    });

    await page.goto('/#/settings');
    const card = page.getByTestId('alert-settings');
    await card.getByLabel('Alert chat').click();
    await page.getByRole('option', { name: 'Duty officers' }).click();
    await card.getByLabel('Alert after (minutes of failure)').fill('5');
    await card.getByLabel('Remind every (hours, 0: never)').fill('0');
    await page.getByRole('button', { name: 'Save' }).click();
    await expectNotice(page, 'Settings saved');
    const org = await sys.t.request({
      method: 'GET',
      url: `/api/v1/orgs/${orgId}`,
      token: await sessionToken(page),
    });
    expect(org.json().settings).toMatchObject({
      alertChatId: chat!.id,
      alertAfterMinutes: 5,
      alertReminderHours: 0,
    });

    const broken = await bot('Front desk bot', 'error');
    const housekeeping = startHousekeeping({
      db,
      config: sys.t.config,
      log: createLogger('silent'),
      loop: false,
    });
    const round = async () => {
      await db.update(bots).set({ lastHeartbeatAt: new Date() }).where(eq(bots.id, helper.id));
      return (await housekeeping.runOnce({ force: true })).jobs.alerts;
    };
    try {
      expect(await round()).toMatchObject({ opened: 1, fired: 0 });
      await db
        .update(alerts)
        .set({ openedAt: sql`now() - interval '6 minutes'` })
        .where(eq(alerts.orgId, orgId));
      expect(await round()).toMatchObject({ fired: 1 });
      const [told] = await db
        .select({ text: notifications.text })
        .from(notifications)
        .where(eq(notifications.orgId, orgId));
      expect(told!.text).toContain('Front desk bot');

      await page.goto('/#/');
      const box = page.getByTestId('open-alerts');
      await box.getByText('1 open alert').waitFor();
      await box.getByText('Bot "Front desk bot" is failing').waitFor();
      await box.getByText(/Telegram refused the token \(401 Unauthorized\) · since /).waitFor();
      await shot(page, 'dashboard-alert-en');
      await box.getByText('Bot "Front desk bot" is failing').click();
      await page.waitForURL(new RegExp(`#/bots/${broken.id}/show`));

      await page.getByTestId('language-switcher').click();
      await page.getByRole('menuitem', { name: 'Русский' }).click();
      await page.goto('/#/');
      await page.getByTestId('open-alerts').getByText('Бот «Front desk bot» не работает').waitFor();
      await shot(page, 'dashboard-alert-ru');

      await db
        .update(bots)
        .set({ status: 'running', lastError: null, lastHeartbeatAt: new Date() })
        .where(eq(bots.id, broken.id));
      expect(await round()).toMatchObject({ resolved: 1 });
      await page.reload();
      await page.getByText('Всё работает.').waitFor();
      expect(await page.getByTestId('open-alerts').count()).toBe(0);
    } finally {
      await housekeeping.stop();
    }
    expect(failuresOf(page)).toEqual([]);
  });
});
