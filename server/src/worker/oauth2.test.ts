import http from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { startDeliveryKit, type DeliveryKit } from '../../test/delivery-kit.js';
import { startDovecot, type DovecotServer } from '../../test/dovecot.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { mailboxes } from '../db/schema.js';
import { createLogger } from '../logger.js';
import { MailConnectError } from '../mail/errors.js';
import {
  mailCredentials,
  openOAuth2Secret,
  sealOAuth2Secret,
} from '../modules/mailboxes/credentials.js';
import { startWorker, type WorkerHandle } from './service.js';

/**
 * A tiny OAuth2 provider: a token endpoint (refresh grant, rotating refresh tokens) and an
 * introspection endpoint Dovecot's oauth2 passdb asks whether an access token is valid.
 */
type Provider = {
  url: string;
  refreshes: Array<{ refreshToken: string; clientId: string; clientSecret?: string }>;
  /** Access tokens Dovecot accepts now. */
  active: Set<string>;
  /** Refresh tokens the endpoint accepts now. */
  grants: Set<string>;
  close(): Promise<void>;
};
async function startProvider(user: string): Promise<Provider> {
  let seq = 0;
  const provider: Omit<Provider, 'url' | 'close'> = {
    refreshes: [],
    active: new Set(),
    grants: new Set(['refresh-1']),
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/token') {
        const form = new URLSearchParams(body);
        const refreshToken = form.get('refresh_token') ?? '';
        provider.refreshes.push({
          refreshToken,
          clientId: form.get('client_id') ?? '',
          ...(form.get('client_secret') ? { clientSecret: form.get('client_secret')! } : {}),
        });
        if (form.get('grant_type') !== 'refresh_token' || !provider.grants.has(refreshToken)) {
          res.statusCode = 400;
          res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'Token revoked' }));
          return;
        }
        seq++;
        const accessToken = `access-${seq}`;
        provider.active.add(accessToken);
        provider.grants.delete(refreshToken);
        provider.grants.add(`refresh-${seq + 1}`);
        res.end(
          JSON.stringify({
            access_token: accessToken,
            expires_in: 3600,
            refresh_token: `refresh-${seq + 1}`,
            token_type: 'Bearer',
          }),
        );
        return;
      }
      // introspection (Dovecot: GET with the token as Bearer)
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      res.end(
        JSON.stringify({ username: user, active: provider.active.has(token) ? 'yes' : 'no' }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    ...provider,
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  } as Provider;
}

let provider: Provider;
let confDir: string;
let dovecot: DovecotServer;
let t: TestApp;
let owner: SignedUp;
let kit: DeliveryKit;
let worker: WorkerHandle;
const deps = () => ({ db: t.deps.db, secrets: t.deps.secrets, allowPrivateHosts: true });

beforeAll(async () => {
  provider = await startProvider('oauser');
  confDir = await mkdtemp(path.join(tmpdir(), 'np-oauth2-'));
  const conf = path.join(confDir, 'oauth2.conf');
  await writeFile(
    conf,
    [
      'introspection_mode = auth',
      `introspection_url = ${provider.url}/introspect`,
      'force_introspection = yes',
      'username_attribute = username',
      'active_attribute = active',
      'active_value = yes',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  dovecot = await startDovecot({
    ssl: false,
    users: { oauser: 'not-used' },
    extraConfig: [
      'auth_mechanisms = plain login xoauth2 oauthbearer',
      'passdb {',
      '  driver = oauth2',
      '  mechanisms = xoauth2 oauthbearer',
      `  args = ${conf}`,
      '}',
    ].join('\n'),
  });
  t = await createTestApp({ MAIL_ALLOW_PRIVATE_HOSTS: 'true' });
  owner = await signup(t);
  kit = await startDeliveryKit(t, owner.orgId);
  await kit.addRule();
}, 60_000);
afterAll(async () => {
  await worker?.stop();
  await kit?.close();
  await t?.close();
  await dovecot?.destroy();
  await provider?.close();
  await rm(confDir, { recursive: true, force: true });
});

async function oauthMailbox(secret: Parameters<typeof sealOAuth2Secret>[1]) {
  const [mb] = await t.deps.db
    .insert(mailboxes)
    .values({
      orgId: owner.orgId,
      name: 'oauth',
      protocol: 'imap',
      host: '127.0.0.1',
      port: dovecot.imapPort,
      security: 'none',
      username: 'oauser',
      authType: 'oauth2',
      secretEncrypted: sealOAuth2Secret(t.deps.secrets, secret),
    })
    .returning();
  return mb!;
}

describe('OAuth2 (XOAUTH2 / OAUTHBEARER)', () => {
  it('refreshes an expired access token, stores the rotated tokens encrypted, reuses a fresh one', async () => {
    const mb = await oauthMailbox({
      tokenUrl: `${provider.url}/token`,
      clientId: 'np-client',
      clientSecret: 'np-secret',
      refreshToken: 'refresh-1',
      accessToken: 'stale',
      expiresAt: Date.now() - 1000,
    });
    const creds = await mailCredentials(deps(), mb);
    expect(creds).toEqual({ accessToken: 'access-1' });
    expect(provider.refreshes.at(-1)).toEqual({
      refreshToken: 'refresh-1',
      clientId: 'np-client',
      clientSecret: 'np-secret',
    });
    const [stored] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb.id));
    expect(stored!.secretEncrypted).not.toContain('access-1');
    const secret = openOAuth2Secret(t.deps.secrets, stored!.secretEncrypted);
    expect(secret).toMatchObject({ accessToken: 'access-1', refreshToken: 'refresh-2' });
    expect(secret.expiresAt).toBeGreaterThan(Date.now() + 3000_000);

    const calls = provider.refreshes.length;
    expect(await mailCredentials(deps(), stored!)).toEqual({ accessToken: 'access-1' });
    expect(provider.refreshes.length).toBe(calls);
    expect(await mailCredentials(deps(), stored!, { forceRefresh: true })).toEqual({
      accessToken: 'access-2',
    });
    await t.deps.db.delete(mailboxes).where(eq(mailboxes.id, mb.id));
  });

  it('a revoked refresh token is a clear auth error; a token endpoint on loopback is refused without MAIL_ALLOW_PRIVATE_HOSTS', async () => {
    const mb = await oauthMailbox({
      tokenUrl: `${provider.url}/token`,
      clientId: 'np-client',
      refreshToken: 'revoked',
    });
    const err = await mailCredentials(deps(), mb).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailConnectError);
    expect((err as MailConnectError).code).toBe('auth');
    expect((err as MailConnectError).message).toMatch(/invalid_grant: Token revoked/);
    const blocked = await mailCredentials({ ...deps(), allowPrivateHosts: false }, mb).catch(
      (e: unknown) => e,
    );
    expect((blocked as MailConnectError).code).toBe('blocked_host');
    await t.deps.db.delete(mailboxes).where(eq(mailboxes.id, mb.id));
  });

  it('the worker logs in to Dovecot with a refreshed token, refreshes again when the server refuses the current one, and mail flows', async () => {
    provider.grants.add('refresh-w');
    const mb = await oauthMailbox({
      tokenUrl: `${provider.url}/token`,
      clientId: 'np-client',
      refreshToken: 'refresh-w',
      // claims to be valid for an hour, but the provider never issued it: Dovecot refuses it
      accessToken: 'never-issued',
      expiresAt: Date.now() + 3600_000,
    });
    const before = provider.refreshes.length;
    worker = startWorker({
      config: t.config,
      db: t.deps.db,
      log: createLogger('silent'),
      secrets: t.deps.secrets,
      leaseMs: 3_000,
      scanMs: 200,
      backoff: { initialMs: 100, maxMs: 500 },
    });
    const end = Date.now() + 15_000;
    for (;;) {
      const [row] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, mb.id));
      if (row?.status === 'ok' && row.uidValidity) break;
      if (Date.now() > end) throw new Error(`not connected: ${row?.status} ${row?.lastError}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(provider.refreshes.length).toBe(before + 1);
    await dovecot.append('oauser', 'From: a@example.com\r\nSubject: via oauth\r\n\r\nhello\r\n');
    await kit.fake.waitForMessages(1, { timeoutMs: 10_000 });
    expect(kit.fake.messages().map((m) => m.plainText)).toEqual(['via oauth']);
    expect(await dovecot.readLog()).toMatch(/method=(OAUTHBEARER|XOAUTH2)/);
  });
});
