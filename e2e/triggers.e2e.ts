/**
 * A shop operator wires their shop to Telegram: registers a bot (fake Telegram), adds the
 * orders group by id, creates a webhook and a rule with a condition, a target and a template,
 * previews and tests it, lets the shop call the webhook, and follows the event to its
 * delivery; then sends a notification by hand and sees its deliveries.
 */
import { describe, expect, it } from 'vitest';
import { failuresOf, useSystem } from './harness.js';
import {
  choose,
  currentOrgId,
  expectNotice,
  fill,
  newAccount,
  sessionToken,
  shot,
  signUp,
} from './ui.js';

const system = useSystem({ telegram: true });

describe('webhook → rule → delivery', () => {
  it('registers a bot and a chat, creates a webhook and a rule, and follows a call to its delivery', async () => {
    const sys = system();
    const telegram = sys.telegram!;
    const bot = telegram.addBot({ username: 'shop_orders_bot', firstName: 'Shop orders' });
    const group = telegram.addChat({
      type: 'group',
      title: 'Shop: paid orders',
      botTokens: [bot.token],
    });

    const { page } = await sys.newPage();
    await signUp(page, newAccount('shop'));
    const orgId = await currentOrgId(page);
    const token = await sessionToken(page);
    const api = async (url: string) =>
      (await sys.t.request({ method: 'GET', url: `/api/v1/orgs/${orgId}${url}`, token })).json();

    // Bot: paste the token; the server checks it with getMe and shows the username.
    await page.goto('/#/bots/create');
    await page.getByText('@BotFather').first().waitFor();
    await fill(page, { name: 'Orders bot', token: bot.token });
    await page.locator('button[type="submit"]').click();
    await page.getByText('@shop_orders_bot').waitFor();
    await page.getByText(`…${bot.token.slice(-4)}`).waitFor();
    expect(await page.getByText(bot.token).count()).toBe(0);

    // Chat by id: the title comes from Telegram (getChat).
    await page.goto('/#/chats/create');
    await fill(page, { telegramChatId: String(group.id) });
    await page.locator('.ra-input-botIds input').click();
    await page.getByRole('option', { name: 'Orders bot' }).click();
    await page.keyboard.press('Escape');
    await page.locator('button[type="submit"]').click();
    await page.getByText('Shop: paid orders').first().waitFor();
    const [chat] = (await api('/chats')).items;
    expect(chat).toMatchObject({
      telegramChatId: group.id,
      title: 'Shop: paid orders',
      type: 'group',
    });

    // Webhook: the token is shown once, with the URL and a curl example.
    await page.goto('/#/webhooks/create');
    await fill(page, { name: 'Shop checkout' });
    await page.locator('button[type="submit"]').click();
    await page.getByText('curl -X POST').waitFor();
    const hookUrl = (await page.getByTestId('secret-value').nth(1).textContent())!.trim();
    expect(hookUrl).toMatch(new RegExp(`^${sys.baseUrl}/hooks/nph_`));
    await shot(page, 'webhook-created-en', { docs: true });

    // Rule: from that webhook, when the order is paid, to the group, with a template.
    await page.goto('/#/rules/create');
    await fill(page, { name: 'Paid orders' });
    await page.locator('.ra-input-sources\\.webhookIds input').click();
    await page.getByRole('option', { name: 'Shop checkout' }).click();
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Add condition' }).click();
    await page.getByTestId('cond-0-kind').selectOption('body');
    await page.getByTestId('cond-0-name').fill('status');
    await page.getByTestId('cond-0-op').selectOption('equals');
    await page.getByTestId('cond-0-value').fill('paid');
    await page.locator('.ra-input-chatId input').first().click();
    await page.getByRole('option', { name: 'Shop: paid orders' }).click();
    await fill(page, {
      template: '<b>Order {{body.order}}</b> paid: {{body.total}} EUR <i>{{subject}}</i>',
    });
    // The live preview renders the sample event with the new template.
    await page.getByText('paid:  EUR', { exact: false }).first().waitFor();
    await page.getByText('Disk space low on db-1').first().waitFor();
    await shot(page, 'rule-editor-en');
    await page.locator('button[type="submit"]').click();
    await expectNotice(page, /created/i);

    const [rule] = (await api('/rules')).items;
    expect(rule).toMatchObject({
      name: 'Paid orders',
      enabled: true,
      conditions: [{ field: 'body.status', op: 'equals', value: 'paid' }],
      targets: [{ chatId: chat.id }],
    });
    expect(rule.sources.webhookIds).toHaveLength(1);

    // "Test against an event": the server renders it. The sample comes from the rule's webhook.
    await page.getByRole('button', { name: 'Test against an event' }).click();
    const dialog = page.getByRole('dialog');
    const sample = JSON.parse(await dialog.locator('textarea').first().inputValue());
    expect(sample).toMatchObject({ source: 'webhook', webhookId: rule.sources.webhookIds[0] });
    await dialog.getByRole('button', { name: 'Run test' }).click();
    await dialog.getByText('The rule does not match this event.').waitFor();
    await dialog
      .locator('textarea')
      .first()
      .fill(JSON.stringify({ ...sample, body: { order: 'A-1001', status: 'paid', total: 120 } }));
    await dialog.getByRole('button', { name: 'Run test' }).click();
    const result = page.getByTestId('rule-test-result');
    await result.getByText('Order A-1001').first().waitFor();
    await result
      .getByText(/paid: 120 EUR/)
      .first()
      .waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();

    // Edit and save (a PATCH of what changed): the rule keeps its condition and target.
    await fill(page, { priority: '50' });
    await page.locator('button[type="submit"]').click();
    await page.getByRole('cell', { name: 'Paid orders' }).waitFor();
    const [edited] = (await api('/rules')).items;
    expect(edited).toMatchObject({
      priority: 50,
      conditions: rule.conditions,
      targets: rule.targets,
      sources: rule.sources,
    });

    // The shop calls the webhook: one paid order (matches), one pending (does not).
    for (const body of [
      { order: 'A-1002', status: 'paid', total: 75.5, subject: 'web shop' },
      { order: 'A-1003', status: 'pending', total: 10 },
    ]) {
      const res = await fetch(hookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(202);
      await res.text();
    }

    await page.goto('/#/events');
    await page.getByRole('row').nth(2).waitFor();
    expect((await api('/events')).total).toBe(2);
    await page.getByRole('cell', { name: 'web shop' }).click();
    await page.getByText('A-1002').first().waitFor();
    await page.getByText('Paid orders').first().waitFor();
    // Where it went: a queued delivery to the group.
    await page.getByText('Shop: paid orders').first().waitFor();
    await page.getByTestId('status-queued').first().waitFor();
    await shot(page, 'event-en');

    await page.goto('/#/deliveries');
    await page.getByRole('cell', { name: 'Shop: paid orders' }).first().waitFor();
    const deliveries = (await api('/deliveries')).items;
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]).toMatchObject({ chatId: chat.id, status: 'queued' });
    await shot(page, 'deliveries-en');

    // The webhook page lists its calls.
    await page.goto(`/#/webhooks/${rule.sources.webhookIds[0]}/show`);
    await page.getByText('web shop').first().waitFor();

    expect(failuresOf(page)).toEqual([]);
  });

  it('sends a notification from the send form and shows its deliveries', async () => {
    const sys = system();
    const telegram = sys.telegram!;
    const bot = telegram.addBot({ username: 'night_desk_bot' });
    const group = telegram.addChat({ type: 'group', title: 'Night desk', botTokens: [bot.token] });
    const { page } = await sys.newPage();
    await signUp(page, newAccount('hotel'));
    const orgId = await currentOrgId(page);
    const token = await sessionToken(page);
    // Bot and chat through the API this time (the first scenario did them on screen).
    const post = async (url: string, payload: object) => {
      const res = await sys.t.request({
        method: 'POST',
        url: `/api/v1/orgs/${orgId}${url}`,
        token,
        payload,
      });
      expect(res.statusCode, `${url}: ${res.body}`).toBe(201);
      return res.json();
    };
    const createdBot = await post('/bots', { name: 'Desk bot', token: bot.token });
    const chat = await post('/chats', { telegramChatId: group.id, botIds: [createdBot.id] });

    await page.goto('/#/notifications/create');
    await page.locator('.ra-input-chatIds input').click();
    await page.getByRole('option', { name: 'Night desk' }).click();
    await page.keyboard.press('Escape');
    await fill(page, { text: 'Room 214: water leak reported, <b>plumber</b> on call' });
    await choose(page, 'format', 'HTML');
    // The preview renders Telegram HTML.
    await page.getByText('Room 214: water leak reported, plumber on call').waitFor();
    await shot(page, 'notification-send-en');
    await page.locator('button[type="submit"]').click();

    await page.getByText('Room 214: water leak reported').first().waitFor();
    await page.getByTestId('status-queued').first().waitFor();
    await page.getByRole('cell', { name: 'Night desk' }).first().waitFor();
    const list = (
      await sys.t.request({ method: 'GET', url: `/api/v1/orgs/${orgId}/notifications`, token })
    ).json();
    expect(list.total).toBe(1);
    expect(list.items[0]).toMatchObject({
      format: 'html',
      source: 'api',
      deliveries: [{ chatId: chat.id, botId: createdBot.id, status: 'queued' }],
    });
    await page.goto('/#/notifications');
    await page.getByText('Room 214').first().waitFor();
    expect(failuresOf(page)).toEqual([]);
  });
});
