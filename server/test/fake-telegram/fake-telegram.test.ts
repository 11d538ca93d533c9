import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Api, Bot, GrammyError, InputFile } from 'grammy';
import { afterEach, describe, expect, it } from 'vitest';
import { parseTelegramHtml } from './html-check.js';
import { parseMarkdownV2 } from './markdown-check.js';
import {
  DEFAULT_LIMITS,
  startFakeTelegram,
  type FakeTelegram,
  type FakeTelegramOptions,
  type TgUpdate,
} from './server.js';

interface ApiAnswer {
  ok: boolean;
  result?: unknown;
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

async function start(options: FakeTelegramOptions = {}): Promise<FakeTelegram> {
  const fake = await startFakeTelegram(options);
  running.push(fake);
  return fake;
}

async function call(
  fake: FakeTelegram,
  token: string,
  method: string,
  params: Record<string, unknown> = {},
): Promise<ApiAnswer & { status: number }> {
  const response = await fetch(`${fake.apiRoot}/bot${token}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(params),
  });
  return { status: response.status, ...((await response.json()) as ApiAnswer) };
}

async function control(
  fake: FakeTelegram,
  name: string,
  args: unknown = {},
): Promise<{ ok: boolean; result?: unknown; error?: string }> {
  const response = await fetch(`${fake.apiRoot}/_fake/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(args),
  });
  return (await response.json()) as { ok: boolean; result?: unknown; error?: string };
}

/** A bot with a private chat it may write to. */
async function botWithChat(options: FakeTelegramOptions = {}) {
  const fake = await start(options);
  const bot = fake.addBot();
  const chat = fake.addChat({ type: 'private', firstName: 'Ann', botTokens: [bot.token] });
  return { fake, token: bot.token, bot, chatId: chat.id };
}

describe('protocol', () => {
  it('answers getMe with {ok, result} and the bot info', async () => {
    const fake = await start();
    const bot = fake.addBot({ username: 'np_test_bot', firstName: 'NP' });
    expect(bot.token).toMatch(/^\d+:[A-Za-z0-9_-]{35}$/);
    const answer = await call(fake, bot.token, 'getMe');
    expect(answer).toMatchObject({
      status: 200,
      ok: true,
      result: { id: bot.id, is_bot: true, username: 'np_test_bot', first_name: 'NP' },
    });
  });

  it('answers 401 Unauthorized for an unknown or revoked token', async () => {
    const fake = await start();
    const bot = fake.addBot();
    expect(await call(fake, '123:nope', 'getMe')).toEqual({
      status: 401,
      ok: false,
      error_code: 401,
      description: 'Unauthorized',
    });
    fake.revokeToken(bot.token);
    expect((await call(fake, bot.token, 'getMe')).status).toBe(401);
  });

  it('answers 404 Not Found for an unknown method and matches names case-insensitively', async () => {
    const fake = await start();
    const bot = fake.addBot();
    expect(await call(fake, bot.token, 'sendTelepathy')).toMatchObject({
      status: 404,
      error_code: 404,
      description: 'Not Found',
    });
    expect((await call(fake, bot.token, 'getme')).ok).toBe(true);
  });

  it('accepts GET query parameters and urlencoded bodies', async () => {
    const { fake, token, chatId } = await botWithChat();
    const get = await fetch(`${fake.apiRoot}/bot${token}/sendMessage?chat_id=${chatId}&text=hi`);
    expect(((await get.json()) as ApiAnswer).ok).toBe(true);
    const post = await fetch(`${fake.apiRoot}/bot${token}/sendMessage`, {
      method: 'POST',
      body: new URLSearchParams({
        chat_id: String(chatId),
        text: 'there',
        disable_notification: 'true',
      }),
    });
    expect(((await post.json()) as ApiAnswer).ok).toBe(true);
    expect(fake.messages().map((m) => [m.text, m.disable_notification])).toEqual([
      ['hi', false],
      ['there', true],
    ]);
  });

  it('returns the sent message like Telegram and records flags', async () => {
    const { fake, token, chatId, bot } = await botWithChat();
    const answer = await call(fake, token, 'sendMessage', {
      chat_id: String(chatId),
      text: '<b>Alert</b> from <i>mail</i>',
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
      disable_notification: true,
      reply_markup: { inline_keyboard: [[{ text: 'Open', url: 'https://example.com' }]] },
    });
    expect(answer.result).toMatchObject({
      message_id: 1,
      from: { id: bot.id, is_bot: true },
      chat: { id: chatId, type: 'private' },
      text: 'Alert from mail',
      entities: [
        { type: 'bold', offset: 0, length: 5 },
        { type: 'italic', offset: 11, length: 4 },
      ],
      reply_markup: { inline_keyboard: [[{ text: 'Open', url: 'https://example.com' }]] },
    });
    const [sent] = fake.messages({ chatId });
    expect(sent).toMatchObject({
      chat_id: chatId,
      parse_mode: 'HTML',
      text: '<b>Alert</b> from <i>mail</i>',
      plainText: 'Alert from mail',
      disable_notification: true,
      link_preview_disabled: true,
      droppedAfterAccept: false,
    });
    expect(fake.stats()).toMatchObject({ messagesSent: 1, requests: { sendMessage: 1 } });
    expect(fake.calls({ method: 'sendMessage' })[0]).toMatchObject({ status: 200, ok: true });
  });

  it('answers getChat, getChatMember and the commands methods', async () => {
    const { fake, token, chatId, bot } = await botWithChat();
    expect((await call(fake, token, 'getChat', { chat_id: chatId })).result).toMatchObject({
      id: chatId,
      type: 'private',
      first_name: 'Ann',
    });
    expect(
      (await call(fake, token, 'getChatMember', { chat_id: chatId, user_id: bot.id })).result,
    ).toMatchObject({ status: 'member', user: { id: bot.id } });
    const commands = [{ command: 'start', description: 'Start' }];
    expect((await call(fake, token, 'setMyCommands', { commands })).result).toBe(true);
    expect((await call(fake, token, 'getMyCommands')).result).toEqual(commands);
    expect(
      (
        await call(fake, token, 'setMyCommands', {
          commands: [{ command: 'Bad!', description: 'x' }],
        })
      ).status,
    ).toBe(400);
    await call(fake, token, 'deleteMyCommands');
    expect((await call(fake, token, 'getMyCommands')).result).toEqual([]);
  });
});

describe('getUpdates', () => {
  it('long-polls until an update is injected', async () => {
    const fake = await start();
    const bot = fake.addBot();
    const started = Date.now();
    const polling = call(fake, bot.token, 'getUpdates', { timeout: 10 });
    await new Promise((r) => setTimeout(r, 150));
    const injected = fake.userSendsMessage({
      token: bot.token,
      from: { firstName: 'Bob' },
      text: '/start',
    });
    const answer = await polling;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(answer.result).toEqual([injected]);
    expect(injected.message).toMatchObject({
      text: '/start',
      entities: [{ type: 'bot_command', offset: 0, length: 6 }],
      chat: { type: 'private', first_name: 'Bob' },
      from: { is_bot: false, first_name: 'Bob' },
    });
  });

  it('returns an empty list when the timeout expires', async () => {
    const fake = await start();
    const bot = fake.addBot();
    const started = Date.now();
    expect((await call(fake, bot.token, 'getUpdates', { timeout: 1 })).result).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('confirms updates below offset and honours limit and allowed_updates', async () => {
    const fake = await start();
    const bot = fake.addBot();
    const ids = [1, 2, 3].map(
      (n) => fake.userSendsMessage({ token: bot.token, text: `m${n}` }).update_id,
    );
    expect(ids[1]).toBe((ids[0] as number) + 1);
    const first = (await call(fake, bot.token, 'getUpdates', { limit: 2 })).result as TgUpdate[];
    expect(first.map((u) => u.update_id)).toEqual(ids.slice(0, 2));
    const again = (await call(fake, bot.token, 'getUpdates', {})).result as TgUpdate[];
    expect(again).toHaveLength(3); // nothing confirmed yet
    const rest = (await call(fake, bot.token, 'getUpdates', { offset: (ids[1] as number) + 1 }))
      .result as TgUpdate[];
    expect(rest.map((u) => u.update_id)).toEqual([ids[2]]);
    await call(fake, bot.token, 'getUpdates', { offset: (ids[2] as number) + 1 });
    expect(fake.pendingUpdates(bot.token)).toEqual([]);

    fake.userSendsMessage({ token: bot.token, text: 'ignored' });
    fake.botAddedToGroup({ token: bot.token, chat: { type: 'channel', title: 'News' } });
    const only = (
      await call(fake, bot.token, 'getUpdates', { allowed_updates: ['my_chat_member'] })
    ).result as TgUpdate[];
    expect(only.map((u) => Object.keys(u)[1])).toEqual(['my_chat_member']);
  });

  it('terminates the older of two concurrent getUpdates with 409', async () => {
    const fake = await start();
    const bot = fake.addBot();
    const older = call(fake, bot.token, 'getUpdates', { timeout: 10 });
    await new Promise((r) => setTimeout(r, 100));
    const newer = call(fake, bot.token, 'getUpdates', { timeout: 1 });
    expect(await older).toMatchObject({
      status: 409,
      description: expect.stringMatching(/^Conflict: terminated by other getUpdates request/),
    });
    expect((await newer).ok).toBe(true);
  });

  it('re-delivers an update with the same update_id on repeatUpdate', async () => {
    const fake = await start();
    const bot = fake.addBot();
    const update = fake.userSendsMessage({ token: bot.token, text: 'once' });
    const first = (await call(fake, bot.token, 'getUpdates')).result as TgUpdate[];
    await call(fake, bot.token, 'getUpdates', { offset: update.update_id + 1 });
    fake.repeatUpdate(bot.token, update.update_id);
    const second = (await call(fake, bot.token, 'getUpdates', { offset: update.update_id + 1 }))
      .result as TgUpdate[];
    expect(second).toEqual(first);
    expect(
      (await call(fake, bot.token, 'getUpdates', { offset: update.update_id + 1 })).result,
    ).toEqual([]);
  });
});

describe('webhooks', () => {
  async function receiver(statuses: number[]) {
    const received: Array<{ secret: string | undefined; update: TgUpdate }> = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          secret: req.headers['x-telegram-bot-api-secret-token'] as string | undefined,
          update: JSON.parse(Buffer.concat(chunks).toString()) as TgUpdate,
        });
        res.writeHead(statuses.shift() ?? 200);
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const closable = { close: () => new Promise<void>((r) => server.close(() => r())) };
    running.push(closable);
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
  }

  it('posts updates in order with the secret header, retrying on non-2xx', async () => {
    const fake = await start({ webhookRetryDelayMs: 20 });
    const bot = fake.addBot();
    const hook = await receiver([500]);
    expect(
      (await call(fake, bot.token, 'setWebhook', { url: hook.url, secret_token: 'S3cret_-x' }))
        .result,
    ).toBe(true);
    const a = fake.userSendsMessage({ token: bot.token, text: 'a' });
    const b = fake.userSendsMessage({ token: bot.token, text: 'b' });
    await expect.poll(() => hook.received.length, { timeout: 3000 }).toBe(3);
    expect(hook.received.map((r) => r.update.update_id)).toEqual([
      a.update_id,
      a.update_id,
      b.update_id,
    ]);
    expect(hook.received.every((r) => r.secret === 'S3cret_-x')).toBe(true);
    const info = (await call(fake, bot.token, 'getWebhookInfo')).result;
    expect(info).toMatchObject({
      url: hook.url,
      pending_update_count: 0,
      last_error_message: 'Wrong response from the webhook: 500 Internal Server Error',
    });
  });

  it('answers getUpdates with 409 while a webhook is set, until deleteWebhook', async () => {
    const fake = await start();
    const bot = fake.addBot();
    const hook = await receiver([]);
    await call(fake, bot.token, 'setWebhook', { url: hook.url });
    expect(await call(fake, bot.token, 'getUpdates')).toMatchObject({
      status: 409,
      description:
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    });
    await call(fake, bot.token, 'deleteWebhook', { drop_pending_updates: true });
    expect((await call(fake, bot.token, 'getUpdates')).result).toEqual([]);
    expect((await call(fake, bot.token, 'getWebhookInfo')).result).toMatchObject({ url: '' });
  });

  it('rejects a bad secret token', async () => {
    const fake = await start();
    const bot = fake.addBot();
    expect(
      (
        await call(fake, bot.token, 'setWebhook', {
          url: 'https://x.test/h',
          secret_token: 'no spaces',
        })
      ).status,
    ).toBe(400);
  });
});

describe('text validation', () => {
  it('parses every supported HTML tag into entities', () => {
    const parsed = parseTelegramHtml(
      '<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s><strike>k</strike>' +
        '<del>d</del><span class="tg-spoiler">p</span><tg-spoiler>q</tg-spoiler>' +
        '<a href="https://x.test/?a=1&amp;b=2">link</a><code>c</code>' +
        '<pre><code class="language-ts">let x</code></pre><blockquote>q</blockquote>' +
        '<blockquote expandable>long</blockquote><tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>' +
        ' &lt;&gt;&amp;&quot;&#39;&#x41;',
    );
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.text).toBe('bsieunskdpqlinkclet xqlong👍 <>&"\'A');
    expect(parsed.entities.map((e) => e.type)).toEqual([
      'bold',
      'bold',
      'italic',
      'italic',
      'underline',
      'underline',
      'strikethrough',
      'strikethrough',
      'strikethrough',
      'spoiler',
      'spoiler',
      'text_link',
      'code',
      'pre',
      'blockquote',
      'expandable_blockquote',
      'custom_emoji',
    ]);
    expect(parsed.entities.find((e) => e.type === 'text_link')?.url).toBe(
      'https://x.test/?a=1&b=2',
    );
    expect(parsed.entities.find((e) => e.type === 'pre')).toMatchObject({
      language: 'ts',
      length: 5,
    });
    // Offsets are UTF-16 code units.
    const emoji = parseTelegramHtml('😀 <b>x</b>');
    expect(emoji.ok && emoji.entities[0]).toEqual({ type: 'bold', offset: 3, length: 1 });
  });

  it.each([
    ['<div>x</div>', 'Unsupported start tag "div" at byte offset 0'],
    ['a<br>b', 'Unsupported start tag "br" at byte offset 1'],
    ['<b>x', 'Can\'t find end tag corresponding to start tag "b"'],
    ['<b><i>x</b></i>', 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'],
    ['x</b>', 'Unexpected end tag at byte offset 1'],
    ['1 < 2', 'Unsupported start tag "" at byte offset 2'],
    ['Tom & Jerry', "Character '&' must start a known HTML entity"],
    ['&nbsp;', "Character '&' must start a known HTML entity"],
    ['<span>x</span>', 'Tag "span" must have class "tg-spoiler"'],
    ['<a href="x', 'Unclosed start tag at byte offset 0'],
  ])('rejects %j with parse_mode HTML', async (text, error) => {
    const { fake, token, chatId } = await botWithChat();
    const answer = await call(fake, token, 'sendMessage', {
      chat_id: chatId,
      text,
      parse_mode: 'HTML',
    });
    expect(answer.status).toBe(400);
    expect(answer.description).toContain(`Bad Request: can't parse entities: ${error}`);
    expect(fake.messages()).toEqual([]);
  });

  it('counts length after entity parsing and rejects empty text', async () => {
    const { fake, token, chatId } = await botWithChat({ limits: { perChat: false } });
    const send = (text: string, parse_mode?: string) =>
      call(fake, token, 'sendMessage', {
        chat_id: chatId,
        text,
        ...(parse_mode ? { parse_mode } : {}),
      });
    expect((await send(`<b>${'x'.repeat(4096)}</b>`, 'HTML')).ok).toBe(true);
    expect((await send('&lt;'.repeat(4096), 'HTML')).ok).toBe(true);
    expect(await send('x'.repeat(4097))).toMatchObject({
      status: 400,
      description: 'Bad Request: message is too long',
    });
    expect((await send('<i>y</i>'.repeat(4097), 'HTML')).description).toBe(
      'Bad Request: message is too long',
    );
    expect(await send('')).toMatchObject({
      status: 400,
      description: 'Bad Request: message text is empty',
    });
    expect((await send('<b> </b>', 'HTML')).description).toBe('Bad Request: message text is empty');
    expect((await send('*a*', 'Klingon')).status).toBe(400);
  });

  it('validates MarkdownV2 like Telegram', async () => {
    expect(
      parseMarkdownV2('*bold* _it_ __u__ ~s~ ||sp|| `c` [l](https://x.test) 1\\.5'),
    ).toMatchObject({
      ok: true,
      text: 'bold it u s sp c l 1.5',
    });
    const { fake, token, chatId } = await botWithChat();
    const answer = await call(fake, token, 'sendMessage', {
      chat_id: chatId,
      text: 'v1.5',
      parse_mode: 'MarkdownV2',
    });
    expect(answer.description).toBe(
      "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'",
    );
  });
});

describe('rate limits', () => {
  it('uses the limits the sender is designed against by default', () => {
    expect(DEFAULT_LIMITS).toMatchObject({
      perBot: { max: 30, windowMs: 1000 },
      perChat: { capacity: 3, refillPerSecond: 1 },
      perGroup: { max: 20, windowMs: 60_000 },
    });
  });

  it('answers 429 after a burst of 3 to one chat (token bucket, 1/s)', async () => {
    const { fake, token, chatId } = await botWithChat();
    for (let i = 0; i < 3; i++) {
      expect((await call(fake, token, 'sendMessage', { chat_id: chatId, text: `m${i}` })).ok).toBe(
        true,
      );
    }
    const limited = await call(fake, token, 'sendMessage', { chat_id: chatId, text: 'too fast' });
    expect(limited).toMatchObject({
      status: 429,
      error_code: 429,
      description: 'Too Many Requests: retry after 1',
      parameters: { retry_after: 1 },
    });
    expect(fake.stats()).toMatchObject({ tooManyRequests: 1, rateLimited: 1, messagesSent: 3 });
    await new Promise((r) => setTimeout(r, 1000));
    expect((await call(fake, token, 'sendMessage', { chat_id: chatId, text: 'later' })).ok).toBe(
      true,
    );
  });

  it('answers 429 for the 31st message of a bot within 1 s', async () => {
    const fake = await start();
    const bot = fake.addBot();
    const chats = Array.from(
      { length: 31 },
      () => fake.addChat({ type: 'private', botTokens: [bot.token] }).id,
    );
    const answers = await Promise.all(
      chats.map((chatId) => call(fake, bot.token, 'sendMessage', { chat_id: chatId, text: 'x' })),
    );
    expect(answers.filter((a) => a.ok)).toHaveLength(30);
    expect(answers.find((a) => !a.ok)).toMatchObject({
      status: 429,
      parameters: { retry_after: 1 },
    });
  });

  it('answers 429 with retry_after ≈ 60 for the 21st message to a group within 60 s', async () => {
    const fake = await start({ limits: { perChat: false } });
    const bot = fake.addBot();
    const group = fake.addChat({ type: 'supergroup', title: 'Ops', botTokens: [bot.token] });
    for (let i = 0; i < 20; i++) {
      expect(
        (await call(fake, bot.token, 'sendMessage', { chat_id: group.id, text: `m${i}` })).ok,
      ).toBe(true);
    }
    const limited = await call(fake, bot.token, 'sendMessage', { chat_id: group.id, text: 'x' });
    expect(limited.status).toBe(429);
    expect(limited.parameters?.retry_after).toBeGreaterThanOrEqual(59);
    expect(limited.parameters?.retry_after).toBeLessThanOrEqual(60);
  });

  it('answers no 429 to a sender that stays under every limit', async () => {
    const fake = await start({
      limits: {
        perBot: { max: 30, windowMs: 100 },
        perChat: { capacity: 3, refillPerSecond: 50 },
        perGroup: { max: 20, windowMs: 600 },
      },
    });
    const bot = fake.addBot();
    const group = fake.addChat({ type: 'group', botTokens: [bot.token] });
    // Twice the group window's capacity, paced just above 600 ms / 20.
    for (let i = 0; i < 40; i++) {
      expect(
        (await call(fake, bot.token, 'sendMessage', { chat_id: group.id, text: `m${i}` })).ok,
      ).toBe(true);
      await new Promise((r) => setTimeout(r, 32));
    }
    expect(fake.stats().tooManyRequests).toBe(0);
  });
});

describe('faults', () => {
  it('answers injected HTTP errors with Telegram parameters, once per count', async () => {
    const { fake, token, chatId } = await botWithChat({ limits: { perChat: false } });
    fake.failNext({ method: 'sendMessage', fault: { type: 'http', status: 500 } });
    fake.failNext({ chatId, count: 2, fault: { type: 'http', status: 429, retryAfter: 7 } });
    fake.failNext({
      fault: {
        type: 'http',
        status: 400,
        description: 'Bad Request: group chat was upgraded to a supergroup chat',
        migrateTo: -1001,
      },
    });
    const send = () => call(fake, token, 'sendMessage', { chat_id: chatId, text: 'x' });
    expect(await send()).toMatchObject({ status: 500, description: 'Internal Server Error' });
    expect(await send()).toMatchObject({
      status: 429,
      description: 'Too Many Requests: retry after 7',
      parameters: { retry_after: 7 },
    });
    expect((await send()).parameters).toEqual({ retry_after: 7 });
    expect((await send()).parameters).toEqual({ migrate_to_chat_id: -1001 });
    expect((await send()).ok).toBe(true);
    expect(fake.stats()).toMatchObject({
      tooManyRequests: 2,
      rateLimited: 0,
      faultsInjected: 4,
      messagesSent: 1,
    });
  });

  it('drops the connection without processing', async () => {
    const { fake, token, chatId } = await botWithChat();
    fake.failNext({ fault: { type: 'drop' } });
    await expect(
      call(fake, token, 'sendMessage', { chat_id: chatId, text: 'x' }),
    ).rejects.toThrow();
    expect(fake.messages()).toEqual([]);
    expect(fake.stats().dropped).toBe(1);
  });

  it('records the message and then drops the connection (outcome unknown)', async () => {
    const { fake, token, chatId } = await botWithChat();
    fake.failNext({ method: 'sendMessage', fault: { type: 'drop-after-accept' } });
    await expect(
      call(fake, token, 'sendMessage', { chat_id: chatId, text: 'maybe' }),
    ).rejects.toThrow();
    expect(fake.messages()).toMatchObject([{ text: 'maybe', droppedAfterAccept: true }]);
  });

  it('hangs, then answers or closes', async () => {
    const { fake, token, chatId } = await botWithChat();
    fake.failNext({ fault: { type: 'timeout', ms: 300 } });
    const started = Date.now();
    expect((await call(fake, token, 'sendMessage', { chat_id: chatId, text: 'slow' })).ok).toBe(
      true,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    fake.failNext({ fault: { type: 'timeout', ms: 100, then: 'close' } });
    await expect(
      call(fake, token, 'sendMessage', { chat_id: chatId, text: 'lost' }),
    ).rejects.toThrow();
    fake.failNext({ count: -1, fault: { type: 'http', status: 502 } });
    expect((await call(fake, token, 'getMe')).status).toBe(502);
    expect((await call(fake, token, 'getMe')).status).toBe(502);
    fake.clearFaults();
    expect((await call(fake, token, 'getMe')).ok).toBe(true);
    expect(fake.messages().map((m) => m.text)).toEqual(['slow']);
  });
});

describe('chat membership', () => {
  it('tracks a bot added to and kicked from a group', async () => {
    const fake = await start();
    const bot = fake.addBot();
    const { chat, updates } = fake.botAddedToGroup({
      token: bot.token,
      chat: { type: 'group', title: 'Ops' },
      by: { firstName: 'Admin' },
    });
    expect(updates[0]?.my_chat_member).toMatchObject({
      chat: { id: chat.id, type: 'group', title: 'Ops' },
      from: { first_name: 'Admin' },
      old_chat_member: { status: 'left', user: { id: bot.id } },
      new_chat_member: { status: 'member', user: { id: bot.id } },
    });
    expect(updates[1]?.message?.new_chat_members).toEqual([
      expect.objectContaining({ id: bot.id }),
    ]);
    expect((await call(fake, bot.token, 'sendMessage', { chat_id: chat.id, text: 'hi' })).ok).toBe(
      true,
    );
    const removed = fake.botRemovedFromGroup({ token: bot.token, chatId: chat.id, kicked: true });
    expect(removed.updates[0]?.my_chat_member?.new_chat_member.status).toBe('kicked');
    expect(
      await call(fake, bot.token, 'sendMessage', { chat_id: chat.id, text: 'hi' }),
    ).toMatchObject({
      status: 403,
      description: 'Forbidden: bot was kicked from the group chat',
    });
    const sg = fake.addChat({ type: 'supergroup', botTokens: [bot.token] });
    fake.botRemovedFromGroup({ token: bot.token, chatId: sg.id, kicked: true });
    expect(
      (await call(fake, bot.token, 'sendMessage', { chat_id: sg.id, text: 'x' })).description,
    ).toBe('Forbidden: bot was kicked from the supergroup chat');
  });

  it('answers 400 chat not found for unknown chats and 403 when the user blocked the bot', async () => {
    const { fake, token, chatId } = await botWithChat();
    expect(await call(fake, token, 'sendMessage', { chat_id: -999, text: 'x' })).toMatchObject({
      status: 400,
      description: 'Bad Request: chat not found',
    });
    expect((await call(fake, token, 'sendMessage', { chat_id: 'garbage', text: 'x' })).status).toBe(
      400,
    );
    const { updates } = fake.userBlocksBot({ token, userId: chatId });
    expect(updates[0]?.my_chat_member?.new_chat_member.status).toBe('kicked');
    expect(await call(fake, token, 'sendMessage', { chat_id: chatId, text: 'x' })).toMatchObject({
      status: 403,
      description: 'Forbidden: bot was blocked by the user',
    });
  });

  it('answers 400 with migrate_to_chat_id after a group became a supergroup', async () => {
    const fake = await start();
    const bot = fake.addBot();
    const group = fake.addChat({ type: 'group', title: 'Team', botTokens: [bot.token] });
    const newId = fake.migrateGroupToSupergroup({ chatId: group.id });
    expect(String(newId)).toMatch(/^-100\d+$/);
    const updates = (await call(fake, bot.token, 'getUpdates')).result as TgUpdate[];
    expect(
      updates.map((u) => u.message?.migrate_to_chat_id ?? u.message?.migrate_from_chat_id),
    ).toEqual([newId, group.id]);
    expect(
      await call(fake, bot.token, 'sendMessage', { chat_id: group.id, text: 'x' }),
    ).toMatchObject({
      status: 400,
      description: 'Bad Request: group chat was upgraded to a supergroup chat',
      parameters: { migrate_to_chat_id: newId },
    });
    const ok = await call(fake, bot.token, 'sendMessage', { chat_id: String(newId), text: 'x' });
    expect(ok.result).toMatchObject({ chat: { id: newId, type: 'supergroup', title: 'Team' } });
  });

  it('lets a bot post to a channel by @username and sees title changes', async () => {
    const fake = await start();
    const bot = fake.addBot();
    const channel = fake.addChat({
      type: 'channel',
      title: 'News',
      username: 'np_news',
      botTokens: [bot.token],
    });
    const answer = await call(fake, bot.token, 'sendMessage', {
      chat_id: '@np_news',
      text: 'post',
    });
    expect(answer.result).toMatchObject({
      chat: { id: channel.id },
      sender_chat: { id: channel.id },
    });
    const { updates } = fake.changeTitle({ chatId: channel.id, title: 'Breaking' });
    expect(updates[0]?.channel_post?.new_chat_title).toBe('Breaking');
    expect((await call(fake, bot.token, 'getChat', { chat_id: channel.id })).result).toMatchObject({
      title: 'Breaking',
    });
  });
});

describe('files', () => {
  it('accepts a multipart sendDocument upload and records it', async () => {
    const { fake, token, chatId } = await botWithChat();
    const form = new FormData();
    form.set('chat_id', String(chatId));
    form.set('caption', '<b>mail.eml</b>');
    form.set('parse_mode', 'HTML');
    form.set(
      'document',
      new Blob(['From: a@b\r\n\r\nhello'], { type: 'message/rfc822' }),
      'mail.eml',
    );
    const response = await fetch(`${fake.apiRoot}/bot${token}/sendDocument`, {
      method: 'POST',
      body: form,
    });
    const answer = (await response.json()) as ApiAnswer;
    expect(answer.result).toMatchObject({
      document: { file_name: 'mail.eml', mime_type: 'message/rfc822', file_size: 18 },
      caption: 'mail.eml',
      caption_entities: [{ type: 'bold', offset: 0, length: 8 }],
    });
    const [sent] = fake.messages();
    expect(sent?.document).toMatchObject({ file_name: 'mail.eml', file_size: 18 });
    expect(fake.fileContent(sent?.document?.file_id ?? '')?.toString()).toBe(
      'From: a@b\r\n\r\nhello',
    );
    // Re-send by file_id and download through getFile.
    const again = await call(fake, token, 'sendDocument', {
      chat_id: chatId,
      document: sent?.document?.file_id,
    });
    expect(again.ok).toBe(true);
    const file = (await call(fake, token, 'getFile', { file_id: sent?.document?.file_id }))
      .result as { file_path: string };
    const download = await fetch(`${fake.apiRoot}/file/bot${token}/${file.file_path}`);
    expect(await download.text()).toBe('From: a@b\r\n\r\nhello');
  });

  it('rejects a too long caption and a too large upload', async () => {
    const { fake, token, chatId } = await botWithChat({ limits: { maxUploadBytes: 1000 } });
    const long = await call(fake, token, 'sendPhoto', {
      chat_id: chatId,
      photo: 'https://example.com/p.jpg',
      caption: 'x'.repeat(1025),
    });
    expect(long.description).toBe('Bad Request: message caption is too long');
    const ok = await call(fake, token, 'sendPhoto', {
      chat_id: chatId,
      photo: 'https://example.com/p.jpg',
      caption: '<b>ok</b>'.repeat(200),
      parse_mode: 'HTML',
    });
    expect(ok.ok).toBe(true);
    const form = new FormData();
    form.set('chat_id', String(chatId));
    form.set('document', new Blob([Buffer.alloc(1001)]), 'big.bin');
    const response = await fetch(`${fake.apiRoot}/bot${token}/sendDocument`, {
      method: 'POST',
      body: form,
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({
      ok: false,
      error_code: 413,
      description: 'Request Entity Too Large',
    });
    expect(
      (await call(fake, token, 'sendDocument', { chat_id: chatId, document: 'no-such-id' })).status,
    ).toBe(400);
  });
});

describe('grammY', () => {
  it('works against the fake unmodified', async () => {
    const { fake, token, chatId } = await botWithChat();
    const api = new Api(token, { apiRoot: fake.apiRoot });
    expect((await api.getMe()).username).toMatch(/_bot$/);
    const message = await api.sendMessage(chatId, '<b>hi</b>', { parse_mode: 'HTML' });
    expect(message.text).toBe('hi');
    const document = await api.sendDocument(chatId, new InputFile(Buffer.from('abc'), 'a.txt'), {
      caption: 'doc',
    });
    expect(document.document).toMatchObject({ file_name: 'a.txt', file_size: 3 });
    const error = await api.sendMessage(-1, 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GrammyError);
    expect((error as GrammyError).description).toBe('Bad Request: chat not found');
  });

  it('runs a long-polling grammY bot that answers /start', async () => {
    const fake = await start();
    const { token } = fake.addBot();
    const bot = new Bot(token, { client: { apiRoot: fake.apiRoot } });
    bot.command('start', (ctx) => ctx.reply('Welcome'));
    const done = bot.start({ timeout: 5 });
    const update = fake.userSendsMessage({
      token,
      from: { id: 4242, firstName: 'Eve' },
      text: '/start',
    });
    const [reply] = await fake.waitForMessages(1, { chatId: 4242, timeoutMs: 5000 });
    expect(reply?.text).toBe('Welcome');
    await bot.stop();
    await done;
    // bot.stop() confirmed the update.
    expect(fake.pendingUpdates(token).map((u) => u.update_id)).not.toContain(update.update_id);
  });
});

describe('HTTP control API', () => {
  it('drives bots, chats, updates, faults and inspection over HTTP', async () => {
    const fake = await start();
    const bot = (await control(fake, 'addBot', { username: 'http_bot' })).result as {
      token: string;
      id: number;
    };
    const chat = (
      await control(fake, 'addChat', { type: 'group', title: 'G', botTokens: [bot.token] })
    ).result as { id: number };
    const update = (
      await control(fake, 'userSendsMessage', {
        token: bot.token,
        chat: chat.id,
        from: { id: 77 },
        text: 'hello',
      })
    ).result as TgUpdate;
    expect(update.message).toMatchObject({
      chat: { id: chat.id },
      from: { id: 77 },
      text: 'hello',
    });
    await control(fake, 'failNext', {
      method: 'sendMessage',
      fault: { type: 'http', status: 502 },
    });
    expect(
      (await call(fake, bot.token, 'sendMessage', { chat_id: chat.id, text: 'a' })).status,
    ).toBe(502);
    expect((await call(fake, bot.token, 'sendMessage', { chat_id: chat.id, text: 'b' })).ok).toBe(
      true,
    );
    const messages = await fetch(`${fake.apiRoot}/_fake/messages?chatId=${chat.id}`);
    expect(((await messages.json()) as { result: unknown[] }).result).toMatchObject([
      { text: 'b' },
    ]);
    const waited = await control(fake, 'waitForMessages', {
      n: 1,
      chatId: chat.id,
      timeoutMs: 100,
    });
    expect(waited.result).toHaveLength(1);
    expect((await control(fake, 'stats')).result).toMatchObject({ messagesSent: 1, errors: 1 });
    const migrated = (await control(fake, 'migrateGroupToSupergroup', { chatId: chat.id }))
      .result as { newChatId: number };
    expect(migrated.newChatId).toBeLessThan(-1e12);
    expect(await control(fake, 'noSuchThing')).toMatchObject({ ok: false });
    expect(await control(fake, 'userSendsMessage', { token: 'bad', text: 'x' })).toMatchObject({
      ok: false,
      error: 'unknown bot token bad',
    });
    const preflight = await fetch(`${fake.apiRoot}/_fake/stats`, { method: 'OPTIONS' });
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    await control(fake, 'reset');
    expect((await call(fake, bot.token, 'getMe')).status).toBe(401);
  });
});
