/**
 * The whole product through real processes: `notifypro start` (api + worker + bots, each bot's
 * runner its own child process) against real PostgreSQL, a real Dovecot and the fake Bot API.
 * A mail appended to the mailbox, a webhook call and an API call each end as a Telegram message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './db.js';
import { startDovecot, type DovecotServer } from './dovecot.js';
import { startFakeTelegram, type FakeTelegram } from './fake-telegram/server.js';
import { eventually, freePort } from './wait.js';

const cli = fileURLToPath(new URL('../bin/notifypro.js', import.meta.url));
let database: TestDatabase;
let dovecot: DovecotServer;
let fake: FakeTelegram;
let child: ChildProcess;
let base: string;
let out = '';
let token: string;
let orgId: string;

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

beforeAll(async () => {
  [database, dovecot, fake] = await Promise.all([
    createTestDatabase(),
    startDovecot({ ssl: false, users: { 'frontdesk@hotel.test': 'mail-pass' } }),
    startFakeTelegram({ port: 0 }),
  ]);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, [cli, 'start'], {
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      PORT: String(port),
      PUBLIC_URL: base,
      TELEGRAM_API_ROOT: fake.apiRoot,
      SECRET_KEY: 'system-test-secret-key-0123456789abcdef',
      MAIL_ALLOW_PRIVATE_HOSTS: 'true',
      RUNNER_HEARTBEAT_SECONDS: '1',
      LOG_LEVEL: 'warn',
      WEB_DIST_DIR: '/nonexistent',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await eventually(
    async () => {
      if (child.exitCode !== null) throw new Error(`notifypro start exited: ${out}`);
      return fetch(`${base}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
    },
    { ms: 60_000, why: () => out.slice(-3000) },
  );
  const signup = await call('POST', '/auth/signup', {
    email: 'night.manager@hotel.test',
    password: 'a long enough password',
    name: 'Night Manager',
    organizationName: 'Seaside Hotel',
  });
  expect(signup.status).toBe(201);
  token = signup.body.token as string;
  orgId = (signup.body.organization as { id: string }).id;
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  await Promise.allSettled([fake?.close(), dovecot?.destroy(), database?.drop()]);
}, 60_000);

describe('notifypro start: mail, webhook and API call to Telegram', () => {
  it('delivers a matching mail, a webhook call and an API notification through the bot’s own runner process', async () => {
    const org = `/orgs/${orgId}`;
    const tg = fake.addBot({ username: 'seaside_desk_bot' });
    const bot = await call('POST', `${org}/bots`, { name: 'Front desk', token: tg.token });
    expect(bot.status).toBe(201);
    const botId = bot.body.id as string;
    await eventually(
      async () => (await call('GET', `${org}/bots/${botId}`)).body.status === 'running',
    );

    // The manager's phone: /start registers the contact.
    const manager = fake.addUser({ firstName: 'Olga', languageCode: 'en' });
    fake.userSendsMessage({ token: tg.token, from: manager.id, text: '/start' });
    const contact = await eventually(async () =>
      (
        (await call('GET', `${org}/chats`)).body.items as Array<{
          id: string;
          telegramChatId: number;
        }>
      ).find((c) => c.telegramChatId === manager.id),
    );
    await fake.waitForMessages(1, { chatId: manager.id, token: tg.token });

    const mailbox = await call('POST', `${org}/mailboxes`, {
      name: 'Front desk inbox',
      protocol: 'imap',
      host: dovecot.host,
      port: dovecot.imapPort,
      security: 'none',
      username: 'frontdesk@hotel.test',
      password: 'mail-pass',
    });
    expect(mailbox.status).toBe(201);
    const hook = await call('POST', `${org}/webhooks`, {
      name: 'PMS',
      hmacSecret: 'pms-signing-key',
    });
    expect(hook.status).toBe(201);
    const rule = await call('POST', `${org}/rules`, {
      name: 'Bookings',
      conditions: [{ field: 'subject', op: 'contains', value: 'Booking' }],
      targets: [{ chatId: contact.id }],
    });
    expect(rule.status).toBe(201);
    // The worker connects (its IDLE is what the mail below arrives through).
    await eventually(
      async () => (await call('GET', `${org}/mailboxes/${mailbox.body.id}`)).body.status === 'ok',
      { ms: 30_000, why: () => out.slice(-3000) },
    );

    await dovecot.append(
      'frontdesk@hotel.test',
      [
        'From: Booking.com <noreply@booking.test>',
        'To: frontdesk@hotel.test',
        'Subject: New Booking #4471 <Suite & Sea view>',
        'Message-ID: <b4471@booking.test>',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'Guest: Иван Петров, 2 nights from 12 Dec.',
        '',
      ].join('\r\n'),
    );
    await dovecot.append(
      'frontdesk@hotel.test',
      'From: spam@x.test\r\nSubject: Cheap watches\r\n\r\nno\r\n',
    );
    const [, mail] = await fake.waitForMessages(2, {
      chatId: manager.id,
      token: tg.token,
      timeoutMs: 30_000,
    });
    expect(mail!.plainText).toContain('New Booking #4471 <Suite & Sea view>');

    const payload = JSON.stringify({ subject: 'Booking changed #4471', guest: 'Ivan' });
    const signature = createHmac('sha256', 'pms-signing-key').update(payload).digest('hex');
    const hooked = await fetch(`${base}/hooks/${hook.body.token as string}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-notifypro-signature': `sha256=${signature}`,
      },
      body: payload,
    });
    expect(hooked.status).toBeLessThan(300);
    const [, , viaHook] = await fake.waitForMessages(3, {
      chatId: manager.id,
      token: tg.token,
      timeoutMs: 20_000,
    });
    expect(viaHook!.plainText).toContain('Booking changed #4471');

    const sent = await call('POST', `${org}/notifications`, {
      text: 'Fire drill at 10:00',
      chatIds: [contact.id],
      idempotencyKey: 'drill-1',
    });
    expect(sent.status).toBe(202);
    const [, , , viaApi] = await fake.waitForMessages(4, {
      chatId: manager.id,
      token: tg.token,
      timeoutMs: 20_000,
    });
    expect(viaApi!.plainText).toBe('Fire drill at 10:00');

    const invoice = Buffer.from('%PDF-1.4 invoice 4471\n');
    const withFile = await call('POST', `${org}/notifications`, {
      text: 'Invoice <b>#4471</b>',
      format: 'html',
      chatIds: [contact.id],
      attachments: [{ filename: 'invoice-4471.pdf', content: invoice.toString('base64') }],
    });
    expect(withFile.status).toBe(202);
    const [, , , , doc] = await fake.waitForMessages(5, {
      chatId: manager.id,
      token: tg.token,
      timeoutMs: 20_000,
    });
    expect(doc!.method).toBe('sendDocument');
    expect(doc!.caption).toContain('#4471');
    expect(fake.fileContent(doc!.document!.file_id)?.equals(invoice)).toBe(true);

    await new Promise((r) => setTimeout(r, 500));
    expect(fake.messages({ chatId: manager.id, token: tg.token })).toHaveLength(5); // the spam matched nothing
    expect(fake.stats().tooManyRequests).toBe(0);
  }, 120_000);
});
