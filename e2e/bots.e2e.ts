/**
 * Bots and chats with the real bots supervisor and a runner process per bot, against the fake
 * Telegram: a bot pasted from @BotFather starts and reports heartbeats, being added to a group
 * makes the group show up by itself, a test message from the bot page arrives, and stop stops.
 */
import { describe, expect, it } from 'vitest';
import { failuresOf, useSystem } from './harness.js';
import { choose, currentOrgId, fill, newAccount, sessionToken, shot, signUp } from './ui.js';

const system = useSystem({ telegram: true, bots: true });

describe('bots and chats', () => {
  it('starts a bot, picks up the group it is added to, sends a test message, retries a failed delivery, and stops', async () => {
    const sys = system();
    const telegram = sys.telegram!;
    const tgBot = telegram.addBot({ username: 'aurora_frontdesk_bot', firstName: 'Aurora desk' });

    const { page } = await sys.newPage();
    await signUp(page, newAccount('sre'));
    const orgId = await currentOrgId(page);
    const token = await sessionToken(page);
    const get = async (url: string) =>
      (await sys.t.request({ method: 'GET', url: `/api/v1/orgs/${orgId}${url}`, token })).json();

    await page.goto('/#/bots/create');
    // The form checks the token's shape before sending; Telegram's refusal lands on the field.
    await fill(page, { name: 'Front desk bot', token: 'not a token' });
    await page.locator('button[type="submit"]').click();
    await page.getByText('A bot token looks like 123456789:AAH…').waitFor();
    await fill(page, { token: '123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    await page.locator('button[type="submit"]').click();
    await page.locator('.ra-input-token .Mui-error').first().waitFor();
    expect(await page.locator('.ra-input-token').textContent()).toContain('Unauthorized');
    await fill(page, { token: tgBot.token });
    await choose(page, 'mode', 'Long polling');
    await page.locator('button[type="submit"]').click();
    await page.getByText('@aurora_frontdesk_bot').waitFor();
    // The runner process comes up and the page (refreshing itself) shows it running.
    await page.getByTestId('status-running').waitFor({ timeout: 20_000 });
    const [bot] = (await get('/bots')).items;
    expect(bot.lastHeartbeatAt).toBeTruthy();

    // Someone adds the bot to a group in Telegram: the chat appears without anyone typing its id.
    const { chat: group } = telegram.botAddedToGroup({
      token: tgBot.token,
      chat: { type: 'group', title: 'Aurora night shift' },
    });
    for (let i = 0; (await get('/chats')).total === 0; i++) {
      expect(i, 'the group never showed up').toBeLessThan(100);
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.goto('/#/chats');
    await page.getByRole('cell', { name: 'Aurora night shift' }).waitFor();
    await page.getByRole('cell', { name: String(group.id) }).waitFor();
    await shot(page, 'chats-en');
    // Its page, and a rename.
    await page.getByRole('cell', { name: 'Aurora night shift' }).click();
    await page.getByRole('link', { name: 'Front desk bot' }).waitFor();
    await page.getByRole('link', { name: 'Edit' }).click();
    await fill(page, { title: 'Aurora night shift (desk)' });
    await page.locator('button[type="submit"]').click();
    await page.getByText('Aurora night shift (desk)').first().waitFor();
    expect((await get('/chats')).items[0].title).toBe('Aurora night shift (desk)');

    // A test message from the bot's page.
    await page.goto(`/#/bots/${bot.id}/show`);
    await page.locator('.ra-input-chatId input').click();
    await page.getByRole('option', { name: 'Aurora night shift (desk)' }).click();
    await fill(page, { text: 'Radio check from the night manager' });
    await page.getByRole('button', { name: 'Send' }).click();
    const [message] = await telegram.waitForMessages(1, { chatId: group.id, timeoutMs: 15_000 });
    expect(message!.plainText).toBe('Radio check from the night manager');
    await shot(page, 'bot-en');

    // Telegram refuses the next message for good: the delivery fails; Retry from its page sends it.
    telegram.failNext({
      token: tgBot.token,
      method: 'sendMessage',
      fault: {
        type: 'http',
        status: 400,
        description: 'Bad Request: wrong parameter action in request',
      },
    });
    const post = await sys.t.request({
      method: 'POST',
      url: `/api/v1/orgs/${orgId}/notifications`,
      token,
      payload: { text: 'Second radio check', chatIds: [(await get('/chats')).items[0].id] },
    });
    expect(post.statusCode).toBe(202);
    const notificationId = post.json().id;
    for (
      let i = 0;
      (await get(`/notifications/${notificationId}`)).deliveries[0].status !== 'failed';
      i++
    ) {
      expect(i, 'the delivery never failed').toBeLessThan(150);
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.goto(`/#/notifications/${notificationId}/show`);
    await page.getByText('wrong parameter action').first().waitFor();
    await page.getByRole('button', { name: 'Retry' }).click();
    const messages = await telegram.waitForMessages(2, { chatId: group.id, timeoutMs: 15_000 });
    expect(messages[1]!.plainText).toBe('Second radio check');
    await page.getByTestId('status-sent').waitFor({ timeout: 15_000 });

    await page.goto(`/#/bots/${bot.id}/show`);
    await page.getByRole('button', { name: 'Stop' }).first().click();
    await page.getByTestId('status-stopped').waitFor({ timeout: 20_000 });
    expect((await get(`/bots/${bot.id}`)).status).toBe('stopped');
    // The one refusal was the unknown token.
    expect(failuresOf(page)).toEqual([
      { status: 400, method: 'POST', path: `/api/v1/orgs/${orgId}/bots` },
    ]);
  });
});
