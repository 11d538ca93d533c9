/**
 * "An error in each service appears in the event log": the api (a request that fails inside,
 * a webhook call refused), the worker (a mailbox login refused), the bots (Telegram revokes a
 * token), deliveries (dead, failed) and rules (a pattern that can never match, a template
 * that renders nothing) — each shows in GET …/logs with level, source and context, and in
 * the superadmin's GET /api/v1/admin/logs.
 */
import { createHmac } from 'node:crypto';
import { createServer } from 'node:net';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { startDovecot, type DovecotServer } from '../../../test/dovecot.js';
import { insertChats, signup, type SignedUp } from '../../../test/factories.js';
import { startFakeTelegram, type FakeTelegram } from '../../../test/fake-telegram/server.js';
import { connectDatabase, type DatabaseHandle } from '../../db/client.js';
import { chats, deliveries, mailboxes, rules } from '../../db/schema.js';
import { supervisorToken } from '../../http/access.js';
import { createLogger } from '../../logger.js';
import { createRunnerApi } from '../../runner/internal-api.js';
import { RunnerExit, startRunner } from '../../runner/runner.js';
import { startWorker, type WorkerHandle } from '../../worker/service.js';

type LogRow = {
  id: string;
  orgId: string | null;
  level: string;
  source: string;
  message: string;
  context: Record<string, unknown>;
};

let t: TestApp;
let fake: FakeTelegram;
let dovecot: DovecotServer;
let owner: SignedUp;
let address: string;
let workerDb: DatabaseHandle | undefined;
let worker: WorkerHandle | undefined;

beforeAll(async () => {
  fake = await startFakeTelegram({ port: 0 });
  dovecot = await startDovecot({ ssl: false });
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  address = `http://127.0.0.1:${port}`;
  t = await createTestApp({
    TELEGRAM_API_ROOT: fake.apiRoot,
    PUBLIC_URL: address,
    MAIL_ALLOW_PRIVATE_HOSTS: 'true',
  });
  await t.app.listen({ port, host: '127.0.0.1' });
  owner = await signup(t);
}, 60_000);
afterAll(async () => {
  await worker?.stop();
  await workerDb?.close();
  await t?.close();
  await fake?.close();
  await dovecot?.destroy();
});

const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
  t.request({ method, url: `/api/v1/orgs/${owner.orgId}${url}`, token: owner.token, payload });

async function orgLogs(query = ''): Promise<LogRow[]> {
  const res = await api('GET', `/logs?limit=500${query}`);
  expect(res.statusCode).toBe(200);
  return res.json().items;
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 15_000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const logFrom = (source: string, match: (r: LogRow) => boolean) =>
  eventually(`a ${source} log row`, async () => (await orgLogs(`&source=${source}`)).find(match));

const found: LogRow[] = [];

describe('an error in each service appears in the event log', () => {
  it('api: a request failing inside (PostgreSQL error) is an error row with its request id', async () => {
    await t.deps.db.execute(sql`alter table chats rename to chats_away`);
    let res;
    try {
      res = await api('GET', '/chats');
    } finally {
      await t.deps.db.execute(sql`alter table chats_away rename to chats`);
    }
    expect(res.statusCode).toBe(500);
    expect(res.json().detail).toBe('Something went wrong on our side'); // no internals
    const row = await logFrom('api', (r) => r.level === 'error');
    expect(row.message).toMatch(/^Internal error on GET \/api\/v1\/orgs\/:orgId\/chats \(request /);
    expect(row.context).toMatchObject({ method: 'GET', route: '/api/v1/orgs/:orgId/chats' });
    expect(row.context.requestId).toEqual(expect.any(String));
    expect(row.message).not.toContain('chats_away');
    found.push(row);
  });

  it('api: a webhook call with a bad signature or a broken JSON body is a warning (once per minute)', async () => {
    const created = await api('POST', '/webhooks', { name: 'Shop', hmacSecret: 'shop-secret-1' });
    expect(created.statusCode).toBe(201);
    const hook = created.json() as { id: string; token: string };
    const call = (body: string, signature: string) =>
      t.request({
        method: 'POST',
        url: `/hooks/${hook.token}`,
        headers: { 'content-type': 'application/json', 'x-notifypro-signature': signature },
        payload: body,
      });
    for (let i = 0; i < 3; i++)
      expect((await call('{"a":1}', 'sha256=forged')).statusCode).toBe(401);
    const broken = '{"order": ';
    const signed = `sha256=${createHmac('sha256', 'shop-secret-1').update(broken).digest('hex')}`;
    expect((await call(broken, signed)).statusCode).toBe(400);
    const rows = (await orgLogs('&source=webhook')).filter((r) => r.context.webhookId === hook.id);
    expect(rows.map((r) => [r.level, r.message]).sort()).toEqual([
      ['warn', 'Webhook "Shop" refused a call: Bad or missing X-NotifyPro-Signature'],
      ['warn', 'Webhook "Shop" refused a call: Body is not valid JSON'],
    ]);
    expect(rows[0]!.context.ip).toEqual(expect.any(String));
    found.push(...rows);
  });

  it('worker: a mailbox whose login is refused is an error row with the mailbox id', async () => {
    await dovecot.addUser('eventlog', 'right-password');
    const [mb] = await t.deps.db
      .insert(mailboxes)
      .values({
        orgId: owner.orgId,
        name: 'Support',
        protocol: 'imap',
        host: '127.0.0.1',
        port: dovecot.imapPort,
        security: 'none',
        username: 'eventlog',
        secretEncrypted: t.deps.secrets.encrypt('wrong-password'),
      })
      .returning();
    workerDb = connectDatabase(t.database.url, 3);
    worker = startWorker({
      config: t.config,
      db: workerDb.db,
      log: createLogger('silent'),
      secrets: t.deps.secrets,
      leaseMs: 3_000,
      scanMs: 200,
      backoff: { initialMs: 5_000, maxMs: 10_000 },
    });
    const row = await logFrom('mail', (r) => r.context.mailboxId === mb!.id);
    expect(row.level).toBe('error');
    expect(row.message).toMatch(/^Mailbox "Support": login failed: /);
    expect(row.context.code).toBe('auth');
    found.push(row);
  });

  it('bots: a token Telegram revokes is an error row with the bot id', async () => {
    const tg = fake.addBot({});
    const res = await api('POST', '/bots', { name: 'Sales bot', token: tg.token });
    expect(res.statusCode).toBe(201);
    const bot = res.json() as { id: string };
    const cred = await t.request({
      method: 'POST',
      url: `/internal/v1/supervisor/bots/${bot.id}/credential`,
      headers: { authorization: `Bearer ${supervisorToken(t.deps.secrets)}` },
    });
    const runner = startRunner({
      api: createRunnerApi(address, cred.json().runnerToken),
      telegramApiRoot: fake.apiRoot,
      heartbeatSeconds: 0.2,
      log: createLogger('silent'),
      pollTimeoutSeconds: 1,
    });
    try {
      await eventually(
        'the runner to run',
        async () => (await api('GET', `/bots/${bot.id}`)).json().status === 'running',
      );
      fake.revokeToken(tg.token);
      expect(await runner.done).toBe(RunnerExit.badToken);
    } finally {
      runner.stop();
      await runner.done;
    }
    const rows = (await orgLogs('&source=bot')).filter((r) => r.context.botId === bot.id);
    expect(rows).toHaveLength(1); // once, not once per heartbeat
    expect(rows[0]).toMatchObject({ level: 'error' });
    expect(rows[0]!.message).toMatch(/^Bot Sales bot: .*Unauthorized/);
    found.push(rows[0]!);
  });

  it('deliveries: dead and failed ones are error rows with the delivery, chat and bot', async () => {
    const tg = fake.addBot({});
    const bot = (await api('POST', '/bots', { name: 'Ops bot', token: tg.token })).json() as {
      id: string;
    };
    const runnerToken = (
      await t.request({
        method: 'POST',
        url: `/internal/v1/supervisor/bots/${bot.id}/credential`,
        headers: { authorization: `Bearer ${supervisorToken(t.deps.secrets)}` },
      })
    ).json().runnerToken as string;
    const [chat] = await insertChats(t, owner.orgId, [{ title: 'Ops' }], { botIds: [bot.id] });
    const sent = await api('POST', '/notifications', { text: 'x', chatIds: [chat!.id, chat!.id] });
    expect(sent.statusCode).toBe(202);
    const [a, b] = sent.json().deliveries as Array<{ id: string }>;
    // Each report is of an attempt that holds the delivery's lease (the api ignores others).
    const report = async (id: string, body: object) => {
      await t.deps.db.update(deliveries).set({ status: 'sending' }).where(eq(deliveries.id, id));
      return t.request({
        method: 'POST',
        url: `/internal/v1/deliveries/${id}/result`,
        headers: { authorization: `Bearer ${runnerToken}` },
        payload: body,
      });
    };
    expect(
      (await report(a!.id, { outcome: 'unknown', error: 'socket hang up' })).json().status,
    ).toBe('queued');
    expect(
      (await report(a!.id, { outcome: 'unknown', error: 'socket hang up' })).json().status,
    ).toBe('dead');
    expect(
      (
        await report(b!.id, { outcome: 'failed', error: "Bad Request: can't parse entities" })
      ).json().status,
    ).toBe('failed');
    const rows = (await orgLogs('&source=delivery')).filter((r) => r.context.botId === bot.id);
    expect(
      rows.map((r) => [r.level, r.message, r.context.deliveryId, r.context.chatId]).sort(),
    ).toEqual(
      [
        ['error', 'Delivery dead after 0 attempts: unknown: socket hang up', a!.id, chat!.id],
        ['error', "Delivery failed: Bad Request: can't parse entities", b!.id, chat!.id],
      ].sort(),
    );
    found.push(...rows);
  });

  it('rules: a pattern that can never match and a template that renders nothing are error rows', async () => {
    const hook = (await api('POST', '/webhooks', { name: 'Monitoring' })).json() as {
      id: string;
      token: string;
    };
    const [chat] = await t.deps.db.select().from(chats).limit(1);
    // stored as an older version or an import could have: the API refuses such a pattern now
    const [unsafe] = await t.deps.db
      .insert(rules)
      .values({
        orgId: owner.orgId,
        name: 'Backtracking',
        sources: { webhookIds: [hook.id] },
        conditions: [{ field: 'subject', op: 'regex', value: '(a+)+$' }],
        targets: [{ chatId: chat!.id }],
      })
      .returning();
    const [empty] = await t.deps.db
      .insert(rules)
      .values({
        orgId: owner.orgId,
        name: 'Subject only',
        sources: { webhookIds: [hook.id] },
        targets: [{ chatId: chat!.id }],
        template: '{{subject}}',
      })
      .returning();
    for (let i = 0; i < 2; i++) {
      const res = await t.request({
        method: 'POST',
        url: `/hooks/${hook.token}`,
        headers: { 'content-type': 'application/json' },
        payload: { text: 'no subject here' },
      });
      expect(res.statusCode).toBe(202);
    }
    const rows = await orgLogs('&source=rules');
    const cannotMatch = rows.filter((r) => r.context.ruleId === unsafe!.id);
    expect(cannotMatch).toHaveLength(1); // once per rule revision, not per event
    expect(cannotMatch[0]).toMatchObject({ level: 'error' });
    expect(cannotMatch[0]!.message).toBe(
      'Rule "Backtracking" cannot match: condition on subject: nested quantifiers are not allowed; it never matches',
    );
    const nothing = rows.filter((r) => r.context.ruleId === empty!.id);
    expect(nothing).toHaveLength(2); // each event it could not send
    expect(nothing[0]!.message).toBe(
      'Rule "Subject only" could not enqueue: The text renders to an empty message',
    );
    expect(nothing[0]!.context.eventId).toEqual(expect.any(String));
    found.push(cannotMatch[0]!, nothing[0]!);
  });

  it('each is listed with ?level=error, and in the superadmin system log', async () => {
    const errors = await orgLogs('&level=error');
    for (const row of found.filter((r) => r.level === 'error'))
      expect(errors.map((r) => r.id)).toContain(row.id);
    expect(errors.every((r) => r.level === 'error')).toBe(true);

    await t.deps.services.auth.createAdmin({
      email: 'root@example.test',
      password: 'root password 123',
      name: 'Root',
    });
    const login = await t.request({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'root@example.test', password: 'root password 123' },
    });
    const system = await t.request({
      method: 'GET',
      url: '/api/v1/admin/logs?limit=500',
      token: login.json().token,
    });
    expect(system.statusCode).toBe(200);
    const items = system.json().items as LogRow[];
    for (const row of found)
      expect(items.find((r) => r.id === row.id)).toMatchObject({
        orgId: owner.orgId,
        level: row.level,
        source: row.source,
      });
    expect(new Set(found.map((r) => r.source))).toEqual(
      new Set(['api', 'webhook', 'mail', 'bot', 'delivery', 'rules']),
    );
  });
});
