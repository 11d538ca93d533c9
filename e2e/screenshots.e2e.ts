/**
 * The main screens with real data, in English and Russian, light and dark: saved as test
 * artifacts (test-results/e2e/screens/) on every run, and into docs/screenshots/ with
 * UPDATE_SCREENSHOTS=1. In Russian every screen's title must be Russian (a missing
 * translation falls back to English and fails here).
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { failuresOf, useSystem, type System } from './harness.js';
import { currentOrgId, newAccount, sessionToken, shot, signUp } from './ui.js';

const system = useSystem({ telegram: true, bots: true });

/** An organization with a bot, a group, a webhook, a rule, calls and sent deliveries. */
async function seed(sys: System, page: Page) {
  const orgId = await currentOrgId(page);
  const token = await sessionToken(page);
  const call = async (method: 'GET' | 'POST', url: string, payload?: object) => {
    const res = await sys.t.request({ method, url: `/api/v1/orgs/${orgId}${url}`, token, payload });
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
    return res.json();
  };
  const telegram = sys.telegram!;
  const tgBot = telegram.addBot({ username: 'aurora_hotel_bot' });
  const group = telegram.addChat({ type: 'group', title: 'Night desk', botTokens: [tgBot.token] });
  const bot = await call('POST', '/bots', { name: 'Hotel bot', token: tgBot.token });
  const chat = await call('POST', '/chats', { telegramChatId: group.id, botIds: [bot.id] });
  const hook = await call('POST', '/webhooks', { name: 'Booking engine' });
  const rule = await call('POST', '/rules', {
    name: 'Late arrivals',
    sources: { webhookIds: [hook.id] },
    conditions: [{ field: 'body.type', op: 'equals', value: 'late_arrival' }],
    targets: [{ chatId: chat.id }],
    template: '<b>{{subject}}</b>\nRoom {{body.room}}, ETA {{body.eta}}',
  });
  for (const [room, eta] of [
    ['214', '01:30'],
    ['318', '02:10'],
    ['105', '03:45'],
  ]) {
    const res = await fetch(hook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        type: 'late_arrival',
        subject: `Late arrival: room ${room}`,
        room,
        eta,
      }),
    });
    expect(res.status).toBe(202);
    await res.text();
  }
  await call('POST', '/notifications', { text: 'Fire drill at 10:00', chatIds: [chat.id] });
  await telegram.waitForMessages(4, { chatId: group.id, timeoutMs: 20_000 });
  return { bot, chat, hook, rule };
}

describe('screenshots', () => {
  it('photographs the main screens in en/ru × light/dark; the Russian ones are Russian', async () => {
    const sys = system();
    const { page: owner } = await sys.newPage();
    const account = newAccount('aurora');
    account.organizationName = 'Hotel Aurora';
    account.name = 'Night Manager';
    await signUp(owner, account);
    const { bot, rule } = await seed(sys, owner);
    const token = await sessionToken(owner);
    const orgId = await currentOrgId(owner);

    const screens: { name: string; path: string; ready: string | RegExp }[] = [
      { name: 'dashboard', path: '/', ready: '100.0%' },
      { name: 'bots', path: '/bots', ready: 'Hotel bot' },
      { name: 'bot', path: `/bots/${bot.id}/show`, ready: '@aurora_hotel_bot' },
      { name: 'chats', path: '/chats', ready: 'Night desk' },
      { name: 'webhooks', path: '/webhooks', ready: 'Booking engine' },
      { name: 'rule', path: `/rules/${rule.id}`, ready: 'Late arrivals' },
      { name: 'events', path: '/events', ready: 'Late arrival: room 214' },
      { name: 'notifications', path: '/notifications', ready: 'Fire drill at 10:00' },
      { name: 'deliveries', path: '/deliveries', ready: 'Night desk' },
      { name: 'staff', path: '/members', ready: 'Night Manager' },
      { name: 'settings', path: '/settings', ready: 'Hotel Aurora' },
    ];
    const variants = [
      { locale: 'en', theme: 'light', all: true },
      { locale: 'ru', theme: 'dark', all: true },
      { locale: 'en', theme: 'dark', all: false },
      { locale: 'ru', theme: 'light', all: false },
    ] as const;
    for (const v of variants) {
      const { context, page } = await sys.newPage({ viewport: { width: 1200, height: 760 } });
      await context.addInitScript(
        ({ token, orgId, locale, theme }) => {
          localStorage.setItem('notifypro.token', token);
          localStorage.setItem('notifypro.orgId', orgId);
          localStorage.setItem('RaStore.locale', JSON.stringify(locale));
          localStorage.setItem('RaStore.theme', JSON.stringify(theme));
        },
        { token, orgId, locale: v.locale, theme: v.theme },
      );
      for (const screen of v.all ? screens : screens.slice(0, 1)) {
        await page.goto(`/#${screen.path}`);
        await page.getByText(screen.ready).first().waitFor();
        const title = (await page.locator('#react-admin-title').textContent()) ?? '';
        if (v.locale === 'ru' && screen.name === 'dashboard')
          await page
            .getByText(/^\d+(\.\d)? (мс|с)$/)
            .first()
            .waitFor(); // latency in Russian units
        if (v.locale === 'ru') expect(title, `${screen.name} title`).toMatch(/[а-яё]/i);
        else expect(title, `${screen.name} title`).not.toMatch(/[а-яё]/i);
        const docs =
          screen.name === 'dashboard' || (v.all && ['rule', 'events', 'bot'].includes(screen.name));
        await shot(page, `${screen.name}-${v.locale}-${v.theme}`, { docs, dir: 'screens' });
      }
      expect(failuresOf(page)).toEqual([]);
    }

    // A phone: lists become one line per record and nothing is wider than the screen.
    const { context, page } = await sys.newPage({ viewport: { width: 390, height: 844 } });
    await context.addInitScript(
      ({ token, orgId }) => {
        localStorage.setItem('notifypro.token', token);
        localStorage.setItem('notifypro.orgId', orgId);
        localStorage.setItem('RaStore.locale', JSON.stringify('ru'));
      },
      { token, orgId },
    );
    for (const screen of screens.filter((s) => ['dashboard', 'events', 'rule'].includes(s.name))) {
      await page.goto(`/#${screen.path}`);
      await page.getByText(screen.ready).first().waitFor();
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow, `${screen.name} is wider than a phone`).toBeLessThanOrEqual(0);
      if (screen.name === 'events') expect(await page.locator('table').count()).toBe(0);
      await shot(page, `${screen.name}-ru-phone`, {
        docs: screen.name === 'events',
        dir: 'screens',
      });
    }
    expect(failuresOf(page)).toEqual([]);
  });
});
