import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { addMember, signup, type SignedUp } from '../../../test/factories.js';
import { startFakeTelegram, type FakeTelegram } from '../../../test/fake-telegram/server.js';
import { bots, mailboxes, organizations, webhooks } from '../../db/schema.js';
import { openWithPassphrase } from '../../crypto/passphrase.js';
import { secretsAad, type ExportDocument } from './format.js';

const serverDir = fileURLToPath(new URL('../../../', import.meta.url));
const passphrase = 'moving day, correct horse';
const env = { MAIL_ALLOW_PRIVATE_HOSTS: 'true', PUBLIC_URL: 'https://new.example.com' };

let fake: FakeTelegram;
let source: TestApp;
let owner: SignedUp;
const tg: Record<'front' | 'night', { id: number; token: string; username: string }> = {} as never;
const hmacSecret = 'webhook-hmac-secret-123';

const req = (
  t: TestApp,
  token: string,
  method: 'GET' | 'POST' | 'PATCH',
  url: string,
  payload?: object,
) => t.request({ method, url, token, ...(payload ? { payload } : {}) });
async function ok<T = Record<string, unknown>>(
  p: Promise<{ statusCode: number; body: string; json(): unknown }>,
  status = 201,
): Promise<T> {
  const res = await p;
  expect(res.statusCode, res.body).toBe(status);
  return res.json() as T;
}

/** The source org: two bots (one in webhook mode), chats linked to them, two mailboxes (password, OAuth2), two webhooks (one signed), rules over all of it, members, settings. */
async function buildSourceOrg() {
  const base = `/api/v1/orgs/${owner.orgId}`;
  tg.front = fake.addBot({ username: 'front_desk_bot' });
  tg.night = fake.addBot({ username: 'night_shift_bot' });
  const front = await ok<{ id: string }>(
    req(source, owner.token, 'POST', `${base}/bots`, { name: 'Front desk', token: tg.front.token }),
  );
  const night = await ok<{ id: string }>(
    req(source, owner.token, 'POST', `${base}/bots`, {
      name: 'Night shift',
      token: tg.night.token,
      mode: 'webhook',
    }),
  );
  const lobby = await ok<{ id: string }>(
    req(source, owner.token, 'POST', `${base}/chats`, {
      telegramChatId: -1001234567890,
      title: 'Lobby',
      botIds: [front.id, night.id],
    }),
  );
  const manager = await ok<{ id: string }>(
    req(source, owner.token, 'POST', `${base}/chats`, {
      telegramChatId: 424242,
      title: 'Manager',
      botIds: [front.id],
    }),
  );
  const inbox = await ok<{ id: string }>(
    req(source, owner.token, 'POST', `${base}/mailboxes`, {
      name: 'Bookings',
      protocol: 'imap',
      host: '127.0.0.1',
      port: 10143,
      security: 'none',
      username: 'bookings@example.test',
      password: 'imap-password-1',
      enabled: false,
    }),
  );
  await ok(
    req(source, owner.token, 'POST', `${base}/mailboxes`, {
      name: 'Office 365',
      protocol: 'imap',
      host: '127.0.0.1',
      port: 10993,
      security: 'tls',
      username: 'office@example.test',
      folder: 'Alerts',
      enabled: false,
      oauth2: {
        tokenUrl: 'https://login.example.test/token',
        clientId: 'client-1',
        clientSecret: 'client-secret-1',
        refreshToken: 'refresh-token-1',
      },
    }),
  );
  const signed = await ok<{ id: string; token: string }>(
    req(source, owner.token, 'POST', `${base}/webhooks`, { name: 'Monitoring', hmacSecret }),
  );
  const plain = await ok<{ id: string }>(
    req(source, owner.token, 'POST', `${base}/webhooks`, { name: 'CI' }),
  );
  for (const [name, body] of [
    [
      'Bookings to the lobby',
      {
        sources: { mailboxIds: [inbox.id] },
        conditions: [{ field: 'subject', op: 'contains', value: 'Booking' }],
        targets: [{ chatId: lobby.id, botId: night.id }],
        template: '<b>{{subject}}</b>',
        priority: 10,
      },
    ],
    [
      'Alerts',
      {
        sources: { webhookIds: [signed.id, plain.id] },
        match: 'any',
        conditions: [
          { field: 'body.level', op: 'equals', value: 'critical' },
          { field: 'header:X-Env', op: 'exists' },
        ],
        targets: [{ chatId: manager.id }, { chatId: lobby.id, botId: front.id }],
        stopProcessing: true,
      },
    ],
    // Two rules may share a name; both come over, once.
    ['Alerts', { targets: [{ chatId: manager.id }], enabled: false, priority: 500 }],
  ] as const)
    await ok(req(source, owner.token, 'POST', `${base}/rules`, { name, ...body }));
  const admin = await addMember(source, owner, 'admin');
  const viewer = await addMember(source, owner, 'viewer');
  await ok(
    req(source, owner.token, 'PATCH', base, {
      name: 'Hotel Aurora',
      settings: { timeZone: 'Europe/Moscow', theme: { mode: 'dark', primaryColor: '#112233' } },
    }),
    200,
  );
  return { admin, viewer, signed };
}

/** A document with every installation-specific id replaced by the natural key, for comparison. */
function normalize(doc: ExportDocument) {
  const bot = new Map(doc.bots.map((b) => [b.id, b.telegramId]));
  const chat = new Map(doc.chats.map((c) => [c.id, c.telegramChatId]));
  const mb = new Map(doc.mailboxes.map((m) => [m.id, `${m.host}|${m.username}|${m.folder}`]));
  const wh = new Map(doc.webhooks.map((w) => [w.id, w.token]));
  // Rows made in one transaction share created_at, so list order is not part of the comparison.
  const sorted = <T>(items: T[]) =>
    [...items].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  return {
    organization: doc.organization,
    members: [...doc.members].sort((a, b) => a.email.localeCompare(b.email)),
    bots: sorted(doc.bots.map(({ id: _id, ...b }) => b)),
    chats: sorted(
      doc.chats.map(({ id: _id, bots: links, ...c }) => ({
        ...c,
        bots: sorted(links.map((l) => ({ ...l, botId: bot.get(l.botId) }))),
      })),
    ),
    mailboxes: sorted(doc.mailboxes.map(({ id: _id, ...m }) => m)),
    webhooks: sorted(doc.webhooks.map(({ id: _id, ...w }) => w)),
    rules: sorted(
      doc.rules.map(({ id: _id, ...r }) => ({
        ...r,
        sources: {
          mailboxIds: r.sources.mailboxIds?.map((id) => mb.get(id)),
          webhookIds: r.sources.webhookIds?.map((id) => wh.get(id)),
        },
        targets: r.targets.map((t) => ({
          chatId: chat.get(t.chatId),
          botId: bot.get(t.botId ?? ''),
        })),
      })),
    ),
  };
}

async function openSecrets(doc: ExportDocument) {
  const s = JSON.parse(await openWithPassphrase(passphrase, doc.secrets!, secretsAad)) as {
    bots: Record<string, string>;
    mailboxes: Record<string, unknown>;
    webhooks: Record<string, string>;
  };
  const bot = new Map(doc.bots.map((b) => [b.id, b.telegramId]));
  const mb = new Map(doc.mailboxes.map((m) => [m.id, m.username]));
  const wh = new Map(doc.webhooks.map((w) => [w.id, w.name]));
  const rekey = <T>(o: Record<string, T>, m: Map<string, unknown>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [String(m.get(k)), v]));
  return {
    bots: rekey(s.bots, bot),
    mailboxes: rekey(s.mailboxes, mb),
    webhooks: rekey(s.webhooks, wh),
  };
}

/** Every config row of an org with its updated_at: a second import must leave all of it alone. */
async function snapshot(t: TestApp, orgId: string) {
  const rows = await t.deps.db.execute(sql`
    select 'org' k, id::text, updated_at::text u from organizations where id = ${orgId}
    union all select 'bot', id::text, updated_at::text || revision from bots where org_id = ${orgId}
    union all select 'chat', id::text, updated_at::text from chats where org_id = ${orgId}
    union all select 'link', bot_id::text || chat_id::text, updated_at::text from bot_chats where org_id = ${orgId}
    union all select 'mailbox', id::text, updated_at::text from mailboxes where org_id = ${orgId}
    union all select 'webhook', id::text, updated_at::text from webhooks where org_id = ${orgId}
    union all select 'rule', id::text, updated_at::text from rules where org_id = ${orgId}
    union all select 'member', user_id::text, role from memberships where org_id = ${orgId}
    order by 1, 2`);
  return rows.rows;
}

beforeAll(async () => {
  fake = await startFakeTelegram({ port: 0 });
  source = await createTestApp({
    ...env,
    TELEGRAM_API_ROOT: fake.apiRoot,
    PUBLIC_URL: 'https://old.example.com',
  });
  owner = await signup(source);
});
afterAll(async () => {
  await source?.close();
  await fake?.close();
});

describe('export and import of an organization', () => {
  let sourceParts: Awaited<ReturnType<typeof buildSourceOrg>>;
  let sealed: ExportDocument;
  let target: TestApp;
  let importer: SignedUp;
  let importedOrgId: string;

  beforeAll(async () => {
    sourceParts = await buildSourceOrg();
    sealed = await ok<ExportDocument>(
      req(source, owner.token, 'POST', `/api/v1/orgs/${owner.orgId}/export`, { passphrase }),
      200,
    );
    target = await createTestApp({ ...env, TELEGRAM_API_ROOT: fake.apiRoot });
    importer = await signup(target);
  });
  afterAll(async () => {
    await target?.close();
  });

  it('exports everything, the secrets only sealed with the passphrase', async () => {
    expect(sealed).toMatchObject({ format: 'notifypro-org-export', version: 1 });
    expect(sealed.bots).toHaveLength(2);
    expect(sealed.chats).toHaveLength(2);
    expect(sealed.mailboxes).toHaveLength(2);
    expect(sealed.webhooks).toHaveLength(2);
    expect(sealed.rules).toHaveLength(3);
    expect(sealed.members.map((m) => m.role).sort()).toEqual(['admin', 'owner', 'viewer']);
    const text = JSON.stringify(sealed);
    for (const secret of [
      tg.front.token,
      tg.night.token,
      'imap-password-1',
      'refresh-token-1',
      hmacSecret,
    ])
      expect(text).not.toContain(secret);
    const opened = await openSecrets(sealed);
    expect(opened.bots).toEqual({ [tg.front.id]: tg.front.token, [tg.night.id]: tg.night.token });
    expect(opened.mailboxes['bookings@example.test']).toEqual({ password: 'imap-password-1' });
    expect(opened.mailboxes['office@example.test']).toMatchObject({
      oauth2: { refreshToken: 'refresh-token-1', clientSecret: 'client-secret-1' },
    });
    expect(opened.webhooks).toEqual({ Monitoring: hmacSecret });
  });

  it('imports into a fresh database and reproduces the org, secrets working', async () => {
    const res = await req(target, importer.token, 'POST', '/api/v1/orgs/import', {
      document: sealed,
      passphrase,
    });
    expect(res.statusCode, res.body).toBe(201);
    const result = res.json();
    importedOrgId = result.orgId;
    expect(result.summary).toMatchObject({
      organization: 'created',
      bots: { created: 2, updated: 0 },
      chats: { created: 2 },
      mailboxes: { created: 2 },
      webhooks: { created: 2 },
      rules: { created: 3 },
      members: { created: 3 },
    });
    expect(result.warnings).toEqual([]);
    // Members new to this installation get an account and a password to hand over, once.
    expect(result.temporaryPasswords.map((p: { email: string }) => p.email).sort()).toEqual(
      [owner.email, sourceParts.admin.email, sourceParts.viewer.email].sort(),
    );
    const login = await target.request({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: {
        email: sourceParts.admin.email,
        password: result.temporaryPasswords.find(
          (p: { email: string }) => p.email === sourceParts.admin.email,
        ).password,
      },
    });
    expect(login.statusCode).toBe(200);

    const again = await ok<ExportDocument>(
      req(target, importer.token, 'POST', `/api/v1/orgs/${importedOrgId}/export`, { passphrase }),
      200,
    );
    const expected = normalize(sealed);
    const got = normalize(again);
    // The importer is an extra owner here; otherwise the same org.
    expect(got.members).toEqual(
      [...expected.members, { email: importer.email, name: 'Test User', role: 'owner' }].sort(
        (a, b) => a.email.localeCompare(b.email),
      ),
    );
    expect({ ...got, members: [] }).toEqual({ ...expected, members: [] });
    expect(await openSecrets(again)).toEqual(await openSecrets(sealed));

    // The webhook-mode bot was registered with Telegram at this installation's URL.
    const [night] = await target.deps.db
      .select()
      .from(bots)
      .where(eq(bots.telegramId, tg.night.id));
    expect(night!.mode).toBe('webhook');
    expect(night!.webhookSecret).toBeTruthy();
    const setWebhook = fake.calls({ method: 'setWebhook', token: tg.night.token }).at(-1);
    expect(setWebhook?.params.url).toBe(`https://new.example.com/telegram/webhook/${night!.id}`);
    // The signed webhook still checks its HMAC secret under the same URL.
    const body = JSON.stringify({ level: 'critical' });
    const hook = (signature?: string) =>
      target.request({
        method: 'POST',
        url: `/hooks/${sourceParts.signed.token}`,
        headers: {
          'content-type': 'application/json',
          ...(signature ? { 'x-notifypro-signature': signature } : {}),
        },
        payload: body,
      });
    expect((await hook()).statusCode).toBe(401);
    const signature = `sha256=${createHmac('sha256', hmacSecret).update(body).digest('hex')}`;
    expect((await hook(signature)).statusCode).toBe(202);
  });

  it('changes nothing when the same document is imported a second time', async () => {
    const before = await snapshot(target, importedOrgId);
    const res = await req(target, importer.token, 'POST', `/api/v1/orgs/${importedOrgId}/import`, {
      document: sealed,
      passphrase,
    });
    expect(res.statusCode, res.body).toBe(200);
    const { summary, temporaryPasswords } = res.json();
    expect(summary.organization).toBe('unchanged');
    for (const kind of ['members', 'bots', 'chats', 'mailboxes', 'webhooks', 'rules'])
      expect(summary[kind], kind).toMatchObject({ created: 0, updated: 0 });
    expect(temporaryPasswords).toEqual([]);
    expect(await snapshot(target, importedOrgId)).toEqual(before);
  });

  it('refuses a wrong passphrase clearly and imports nothing', async () => {
    const orgsBefore = (await target.deps.db.select().from(organizations)).length;
    const res = await req(target, importer.token, 'POST', '/api/v1/orgs/import', {
      document: sealed,
      passphrase: 'not the passphrase',
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json()).toMatchObject({
      detail: 'Wrong passphrase',
      errors: [{ path: 'body.passphrase' }],
    });
    expect((await target.deps.db.select().from(organizations)).length).toBe(orgsBefore);
  });

  it('without a passphrase leaves the secrets out, and imported bots and mailboxes wait disabled', async () => {
    const plain = await ok<ExportDocument>(
      req(source, owner.token, 'GET', `/api/v1/orgs/${owner.orgId}/export`),
      200,
    );
    expect(plain.secrets).toBeNull();
    const text = JSON.stringify(plain);
    for (const secret of [tg.front.token, 'imap-password-1', 'refresh-token-1', hmacSecret])
      expect(text).not.toContain(secret);
    const fresh = await createTestApp({ ...env, TELEGRAM_API_ROOT: fake.apiRoot });
    try {
      const someone = await signup(fresh);
      const result = await ok<{ orgId: string; warnings: string[] }>(
        req(fresh, someone.token, 'POST', '/api/v1/orgs/import', { document: plain }),
      );
      const botRows = await fresh.deps.db.select().from(bots).where(eq(bots.orgId, result.orgId));
      expect(botRows).toHaveLength(2);
      for (const b of botRows) {
        expect(b).toMatchObject({
          enabled: false,
          status: 'stopped',
          mode: 'polling',
          tokenHint: '',
        });
        expect(b.lastError).toMatch(/without its token/);
      }
      const mbRows = await fresh.deps.db
        .select()
        .from(mailboxes)
        .where(eq(mailboxes.orgId, result.orgId));
      expect(mbRows.map((m) => m.enabled)).toEqual([false, false]);
      for (const m of mbRows) expect(m.lastError).toMatch(/without its password/);
      const whRows = await fresh.deps.db
        .select()
        .from(webhooks)
        .where(eq(webhooks.orgId, result.orgId));
      // A signed webhook without its secret would take unsigned calls: it waits disabled.
      expect(whRows.find((w) => w.name === 'Monitoring')).toMatchObject({
        enabled: false,
        hmacSecretEncrypted: null,
      });
      expect(whRows.find((w) => w.name === 'CI')).toMatchObject({ enabled: true });
      expect(result.warnings.join('\n')).toMatch(/bot Front desk: imported without its token/);
      // The signed webhook comes back once its secret is set again (same URL as before).
      const monitoring = whRows.find((w) => w.name === 'Monitoring')!;
      await ok(
        req(
          fresh,
          someone.token,
          'PATCH',
          `/api/v1/orgs/${result.orgId}/webhooks/${monitoring.id}`,
          {
            hmacSecret,
            enabled: true,
          },
        ),
        200,
      );
      const signedBody = '{"level":"critical"}';
      const signedCall = await fresh.request({
        method: 'POST',
        url: `/hooks/${monitoring.token}`,
        headers: {
          'content-type': 'application/json',
          'x-notifypro-signature': `sha256=${createHmac('sha256', hmacSecret).update(signedBody).digest('hex')}`,
        },
        payload: signedBody,
      });
      expect(signedCall.statusCode).toBe(202);

      // Such a bot cannot be started until it has a token; with one it can.
      const botId = botRows.find((b) => b.telegramId === tg.front.id)!.id;
      const start = await req(
        fresh,
        someone.token,
        'POST',
        `/api/v1/orgs/${result.orgId}/bots/${botId}/start`,
      );
      expect(start.statusCode).toBe(400);
      expect(start.json().errors[0].path).toBe('token');
      const patched = await ok<{ enabled: boolean; status: string }>(
        req(fresh, someone.token, 'PATCH', `/api/v1/orgs/${result.orgId}/bots/${botId}`, {
          token: tg.front.token,
          enabled: true,
        }),
        200,
      );
      expect(patched).toMatchObject({ enabled: true, status: 'starting' });
      // Importing the sealed document afterwards fills in the secrets and changes nothing else.
      const withSecrets = await ok<{
        summary: Record<string, { updated: number; created: number }>;
      }>(
        req(fresh, someone.token, 'POST', `/api/v1/orgs/${result.orgId}/import`, {
          document: sealed,
          passphrase,
        }),
        200,
      );
      expect(withSecrets.summary.bots).toMatchObject({ created: 0, updated: 1 });
      expect(withSecrets.summary.mailboxes).toMatchObject({ created: 0 });
      const [mb] = await fresh.deps.db
        .select()
        .from(mailboxes)
        .where(eq(mailboxes.username, 'bookings@example.test'));
      expect(fresh.deps.secrets.decrypt(mb!.secretEncrypted)).toBe('imap-password-1');
    } finally {
      await fresh.close();
    }
  });
});

describe('hostile or broken documents', () => {
  let base: ExportDocument;
  beforeAll(async () => {
    base = await ok<ExportDocument>(
      req(source, owner.token, 'GET', `/api/v1/orgs/${owner.orgId}/export`),
      200,
    );
  });
  const importInto = (document: unknown, extra: object = {}) =>
    req(source, owner.token, 'POST', `/api/v1/orgs/${owner.orgId}/import`, { document, ...extra });

  it.each([
    ['not an object', 'a string', 'body.document.(document)'],
    [
      'another format version',
      { ...({} as object), format: 'notifypro-org-export', version: 2 },
      'body.document.version',
    ],
    [
      'a rule pointing at a chat that is not in the document',
      (d: ExportDocument) => ({
        ...d,
        rules: [{ ...d.rules[0]!, targets: [{ chatId: 'nope' }] }],
      }),
      'body.document.rules.0.targets.0.chatId',
    ],
    [
      'a catastrophic regular expression',
      (d: ExportDocument) => ({
        ...d,
        rules: [
          { ...d.rules[0]!, conditions: [{ field: 'subject', op: 'regex', value: '(a+)+$' }] },
        ],
      }),
      'body.document.rules.0.conditions.0.value',
    ],
    [
      'a javascript: logo',
      (d: ExportDocument) => ({
        ...d,
        organization: { ...d.organization, settings: { logoUrl: 'javascript:alert(1)' } },
      }),
      'body.document.organization.settings.logoUrl',
    ],
    [
      'an unknown field',
      (d: ExportDocument) => ({ ...d, bots: [{ ...d.bots[0]!, isSuperadmin: true }] }),
      'body.document.bots.0',
    ],
    [
      'a key derivation asking for gigabytes',
      (d: ExportDocument) => ({
        ...d,
        secrets: {
          kdf: { name: 'scrypt', N: 2 ** 24, r: 8, p: 1, salt: 'c2FsdHNhbHRzYWx0c2FsdA' },
          cipher: 'aes-256-gcm',
          iv: 'AAAAAAAAAAAAAAAA',
          tag: 'AAAAAAAAAAAAAAAAAAAAAA',
          data: 'AAAA',
        },
      }),
      'body.document.secrets.kdf.N',
    ],
  ])('answers 400 naming the field for %s', async (_label, make, field) => {
    const document = typeof make === 'function' ? make(base) : make;
    const res = await importInto(document);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.json().errors.map((e: { path: string }) => e.path)).toContain(field);
  });

  it('writes nothing when a late part of the import fails (one transaction)', async () => {
    // A new org whose second bot is registered here already (in the source org): 409, and no
    // trace of the org, its first bot or its members.
    const other = fake.addBot({ username: 'brand_new_bot' });
    const doc = {
      ...base,
      organization: { name: 'Half import', settings: {} },
      members: [{ email: 'half-import@example.test', name: 'Half', role: 'owner' }],
      bots: [
        { ...base.bots[0]!, id: 'x1', telegramId: other.id },
        { ...base.bots[1]!, id: 'x2' },
      ],
      chats: [],
      rules: [],
    };
    const stranger = await signup(source);
    const orgsBefore = (await source.deps.db.select().from(organizations)).length;
    const res = await req(source, stranger.token, 'POST', '/api/v1/orgs/import', { document: doc });
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json().errors[0].path).toBe('body.document.bots.1.telegramId');
    expect((await source.deps.db.select().from(organizations)).length).toBe(orgsBefore);
    expect(await source.deps.db.select().from(bots).where(eq(bots.telegramId, other.id))).toEqual(
      [],
    );
    const users = await source.deps.db.execute(
      sql`select 1 from users where email = 'half-import@example.test'`,
    );
    expect(users.rows).toEqual([]);
  });

  it('lets only owners import and export secrets; admins export without them', async () => {
    const admin = await addMember(source, owner, 'admin');
    const url = `/api/v1/orgs/${owner.orgId}`;
    expect((await req(source, admin.token, 'GET', `${url}/export`)).statusCode).toBe(200);
    expect(
      (await req(source, admin.token, 'POST', `${url}/export`, { passphrase })).statusCode,
    ).toBe(403);
    expect(
      (await req(source, admin.token, 'POST', `${url}/import`, { document: base })).statusCode,
    ).toBe(403);
    const short = await req(source, owner.token, 'POST', `${url}/export`, { passphrase: 'short' });
    expect(short.statusCode).toBe(400);
    expect(short.json().errors[0].path).toBe('body.passphrase');
  });
});

describe('the CLI', () => {
  it('exports to stdout and imports a file as a new org, again without changes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'np-transfer-'));
    try {
      const cli = (args: string[]) =>
        promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
          cwd: serverDir,
          env: {
            ...process.env,
            DATABASE_URL: source.database.url,
            SECRET_KEY: 'test-secret-key-0123456789abcdef0123456789',
            MAIL_ALLOW_PRIVATE_HOSTS: 'true',
            TELEGRAM_API_ROOT: fake.apiRoot,
            LOG_LEVEL: 'warn',
          },
          maxBuffer: 16 << 20,
        });
      await writeFile(path.join(dir, 'pass'), `${passphrase}\n`);
      const exported = await cli([
        'export',
        '--org',
        owner.orgId,
        '--passphrase-file',
        path.join(dir, 'pass'),
      ]);
      const doc = JSON.parse(exported.stdout) as ExportDocument;
      expect(doc.secrets).not.toBeNull();
      expect(exported.stdout).not.toContain(tg.front.token);
      // Into a new org of the same installation: the bots are this installation's already.
      const file = path.join(dir, 'org.json');
      await writeFile(
        file,
        JSON.stringify({
          ...doc,
          bots: [],
          chats: doc.chats.map((c) => ({ ...c, bots: [] })),
          rules: doc.rules.map((r) => ({
            ...r,
            targets: r.targets.map((t) => ({ chatId: t.chatId })),
          })),
        }),
      );
      const first = await cli([
        'import',
        '--org',
        'new',
        '--passphrase-file',
        path.join(dir, 'pass'),
        file,
      ]);
      const { orgId, summary } = JSON.parse(first.stdout);
      expect(summary).toMatchObject({
        organization: 'created',
        chats: { created: 2 },
        rules: { created: 3 },
      });
      // The same webhook tokens are taken by the source org here: new URLs, said on stderr.
      expect(first.stderr).toMatch(/warning: webhook Monitoring: .*new URL/);
      const second = await cli([
        'import',
        '--org',
        orgId,
        '--passphrase-file',
        path.join(dir, 'pass'),
        file,
      ]);
      const again = JSON.parse(second.stdout).summary;
      for (const kind of ['members', 'chats', 'webhooks', 'rules'])
        expect(again[kind], kind).toMatchObject({ created: 0, updated: 0 });
      const bad = await cli([
        'import',
        '--org',
        orgId,
        '--passphrase-file',
        path.join(dir, 'pass'),
        path.join(dir, 'pass'),
      ]).catch((e: { code: number; stderr: string }) => e);
      expect((bad as { code: number }).code).toBe(1);
      expect((bad as { stderr: string }).stderr).toMatch(/is not a JSON document/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
