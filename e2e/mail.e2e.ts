/**
 * A hotel night manager connects the front desk mailbox (a real Dovecot): adds it with the
 * form, tests the connection (a wrong password shows the server's error), and a guest's
 * e-mail then arrives as an event, matches a rule and is delivered to the night-desk group
 * in the fake Telegram by the bot's own runner process; the dashboard and the deliveries page show it.
 */
import { describe, expect, it } from 'vitest';
import { failuresOf, useSystem } from './harness.js';
import { choose, currentOrgId, fill, newAccount, sessionToken, shot, signUp } from './ui.js';

const system = useSystem({
  telegram: true,
  worker: true,
  bots: true,
  dovecot: { ssl: false, users: { frontdesk: 'desk password 1' } },
});

/** A guest's mail in Russian (UTF-8, encoded words in the headers). */
const guestMail = [
  'From: =?UTF-8?B?0JDQvdC90LAg0J/QtdGC0YDQvtCy0LA=?= <anna@example.test>',
  'To: frontdesk@hotel.test',
  'Subject: =?UTF-8?B?0J3QvtC80LXRgCAyMTQ6INC/0YDQvtGC0LXRh9C60LA=?=',
  'Message-ID: <guest-214@example.test>',
  'X-Priority: 1',
  'MIME-Version: 1.0',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: 8bit',
  '',
  'В ванной течёт кран, пожалуйста, пришлите сантехника.',
  '',
].join('\r\n');

describe('mailbox', () => {
  it('adds a mailbox, tests the connection, and a mail goes all the way to Telegram', async () => {
    const sys = system();
    const dovecot = sys.dovecot!;
    const telegram = sys.telegram!;
    const tgBot = telegram.addBot({ username: 'aurora_desk_bot' });
    const group = telegram.addChat({
      type: 'group',
      title: 'Night desk',
      botTokens: [tgBot.token],
    });

    const { page } = await sys.newPage();
    await signUp(page, newAccount('night'));
    const orgId = await currentOrgId(page);
    const token = await sessionToken(page);
    const request = async (method: 'GET' | 'POST', url: string, payload?: object) => {
      const res = await sys.t.request({
        method,
        url: `/api/v1/orgs/${orgId}${url}`,
        token,
        payload,
      });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
      return res.json();
    };
    const bot = await request('POST', '/bots', { name: 'Desk bot', token: tgBot.token });
    const chat = await request('POST', '/chats', { telegramChatId: group.id, botIds: [bot.id] });

    // The mailbox form: a custom server on loopback, plain IMAP.
    await page.goto('/#/mailboxes/create');
    await fill(page, {
      name: 'Front desk',
      host: '127.0.0.1',
      port: String(dovecot.imapPort),
      username: 'frontdesk',
      password: 'not the password',
    });
    await choose(page, 'security', /none/i);
    await shot(page, 'mailbox-create-en', { docs: true });
    await page.locator('button[type="submit"]').click();
    await page.getByText('Front desk').first().waitFor();

    // Test connection: Dovecot refuses the password; the page says why.
    await page.getByRole('button', { name: 'Test connection' }).click();
    const result = page.getByTestId('mailbox-test-result');
    await result.waitFor();
    expect(await result.textContent()).toMatch(/auth|login|password|credentials/i);
    expect(await result.getAttribute('class')).toMatch(/Error/);

    // The worker tried it too: the mailbox shows the error, and the log has a row for it.
    const [created] = (await request('GET', '/mailboxes')).items;
    for (let i = 0; (await request('GET', `/mailboxes/${created.id}`)).status !== 'error'; i++) {
      expect(i, 'the worker never reported the refused login').toBeLessThan(100);
      await sys.worker!.rescan();
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.reload();
    await page.getByTestId('status-error').waitFor();
    await page
      .getByText(/AUTHENTICATIONFAILED/)
      .first()
      .waitFor();
    await page.goto('/#/logs');
    await page
      .getByText(/Mailbox "Front desk": login failed/)
      .first()
      .waitFor();
    await page.getByTestId('status-error').first().waitFor();
    await shot(page, 'logs-en');
    await page.goto(`/#/mailboxes/${created.id}/show`);

    // Fix the password on the edit page; now the test logs in.
    await page.getByRole('link', { name: 'Edit' }).click();
    await fill(page, { password: 'desk password 1' });
    await page.locator('button[type="submit"]').click();
    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.getByText('Connected and logged in').waitFor();
    const [mailbox] = (await request('GET', '/mailboxes')).items;

    await request('POST', '/rules', {
      name: 'Guest requests',
      sources: { mailboxIds: [mailbox.id] },
      conditions: [{ field: 'subject', op: 'contains', value: 'Номер' }],
      targets: [{ chatId: chat.id }],
      template: '🛎 <b>{{subject}}</b>\n{{from}}\n{{text}}',
    });

    // The watcher is up once the mailbox reports ok; then the guest writes.
    for (let i = 0; (await request('GET', `/mailboxes/${mailbox.id}`)).status !== 'ok'; i++) {
      expect(i, 'mailbox never became ok').toBeLessThan(100);
      await sys.worker!.rescan();
      await new Promise((r) => setTimeout(r, 100));
    }
    await dovecot.append('frontdesk', guestMail);
    const [sent] = await telegram.waitForMessages(1, { chatId: group.id, timeoutMs: 15_000 });
    expect(sent!.plainText).toContain('Номер 214: протечка');
    expect(sent!.plainText).toContain('Анна Петрова');
    expect(sent!.plainText).toContain('пришлите сантехника');
    expect(sent!.entities.some((e) => e.type === 'bold')).toBe(true);

    await page.goto('/#/events');
    await page.getByRole('cell', { name: 'Номер 214: протечка' }).click();
    await page.getByText('X-Priority').waitFor();
    await page.getByText('пришлите сантехника').first().waitFor();
    await page.getByText('Guest requests').first().waitFor();
    await page.getByTestId('status-sent').waitFor();
    await shot(page, 'mail-event-en', { docs: true });

    await page.goto('/#/deliveries');
    await page.getByTestId('status-sent').first().click();
    // The delivery page: sent, to the group, with Telegram's message id.
    await page.waitForURL(/#\/deliveries\/[^/]+\/show$/);
    await page
      .locator('.ra-field-telegramMessageIds')
      .getByText(new RegExp(`^${sent!.message_id}$`))
      .waitFor();
    await page.getByText('Night desk').first().waitFor();
    await page.goto('/#/');
    await page.getByText('100.0%').first().waitFor();
    await shot(page, 'dashboard-en');
    expect(failuresOf(page)).toEqual([]);
  });
});
