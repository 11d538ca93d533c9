import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../test/app.js';
import { startDeliveryKit, type DeliveryKit } from '../../test/delivery-kit.js';
import { startDovecot, type DovecotServer } from '../../test/dovecot.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { startOAuth2Provider, type OAuth2Provider } from '../../test/oauth2-provider.js';
import { mailboxes } from '../db/schema.js';
import { createLogger } from '../logger.js';
import { MailConnectError } from '../mail/errors.js';
import {
  mailCredentials,
  openOAuth2Secret,
  sealOAuth2Secret,
} from '../modules/mailboxes/credentials.js';
import { POP3_BASELINE_TAKEN } from './pop3-sync.js';
import { startWorker, type WorkerHandle } from './service.js';

let provider: OAuth2Provider;
let dovecot: DovecotServer;
let t: TestApp;
let owner: SignedUp;
let kit: DeliveryKit;
let worker: WorkerHandle;
const deps = () => ({ db: t.deps.db, secrets: t.deps.secrets, allowPrivateHosts: true });

beforeAll(async () => {
  provider = await startOAuth2Provider('oauser');
  dovecot = await startDovecot({
    ssl: false,
    users: { oauser: 'not-used', popuser: 'not-used' },
    oauth2: { introspectionUrl: provider.introspectionUrl },
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
});

async function oauthMailbox(
  secret: Parameters<typeof sealOAuth2Secret>[1],
  overrides: Partial<typeof mailboxes.$inferInsert> = {},
) {
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
      ...overrides,
    })
    .returning();
  return mb!;
}

/** One worker for the file: it watches every mailbox the tests add. */
function ensureWorker(): void {
  worker ??= startWorker({
    config: t.config,
    db: t.deps.db,
    log: createLogger('silent'),
    secrets: t.deps.secrets,
    leaseMs: 3_000,
    scanMs: 200,
    backoff: { initialMs: 100, maxMs: 500 },
  });
}

async function waitForMailbox(id: string, ready: (row: typeof mailboxes.$inferSelect) => boolean) {
  const end = Date.now() + 15_000;
  for (;;) {
    const [row] = await t.deps.db.select().from(mailboxes).where(eq(mailboxes.id, id));
    if (row && ready(row)) return row;
    if (Date.now() > end) throw new Error(`not connected: ${row?.status} ${row?.lastError}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('OAuth2 (XOAUTH2 / OAUTHBEARER)', () => {
  it('refreshes an expired access token, stores the rotated tokens encrypted, reuses a fresh one', async () => {
    const mb = await oauthMailbox({
      tokenUrl: provider.tokenUrl,
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
      tokenUrl: provider.tokenUrl,
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

  it("the mailbox's test connection refreshes a token the server refuses, once, and reports a revoked grant", async () => {
    provider.grant('refresh-t');
    const mb = await oauthMailbox({
      tokenUrl: provider.tokenUrl,
      clientId: 'np-client',
      refreshToken: 'refresh-t',
      accessToken: 'never-issued-test',
      expiresAt: Date.now() + 3600_000,
    });
    const test = () =>
      t.request({
        method: 'POST',
        url: `/api/v1/orgs/${owner.orgId}/mailboxes/${mb.id}/test`,
        token: owner.token,
      });
    const before = provider.refreshes.length;
    const ok = await test();
    expect(ok.json()).toEqual({ ok: true });
    expect(provider.refreshes.length).toBe(before + 1);
    // the refreshed token was stored: the next test uses it without refreshing
    expect((await test()).json()).toEqual({ ok: true });
    expect(provider.refreshes.length).toBe(before + 1);

    await t.deps.db
      .update(mailboxes)
      .set({
        secretEncrypted: sealOAuth2Secret(t.deps.secrets, {
          tokenUrl: provider.tokenUrl,
          clientId: 'np-client',
          refreshToken: 'revoked',
          accessToken: 'never-issued-test-2',
          expiresAt: Date.now() + 3600_000,
        }),
      })
      .where(eq(mailboxes.id, mb.id));
    const refused = (await test()).json() as { ok: boolean; error: string };
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatch(/invalid_grant: Token revoked/);
    await t.deps.db.delete(mailboxes).where(eq(mailboxes.id, mb.id));
  });

  it('the worker logs in to Dovecot with a refreshed token, refreshes again when the server refuses the current one, and mail flows', async () => {
    provider.grant('refresh-w');
    const mb = await oauthMailbox({
      tokenUrl: provider.tokenUrl,
      clientId: 'np-client',
      refreshToken: 'refresh-w',
      // claims to be valid for an hour, but the provider never issued it: Dovecot refuses it
      accessToken: 'never-issued',
      expiresAt: Date.now() + 3600_000,
    });
    const before = provider.refreshes.length;
    ensureWorker();
    await waitForMailbox(mb.id, (row) => row.status === 'ok' && !!row.uidValidity);
    expect(provider.refreshes.length).toBe(before + 1);
    await dovecot.append('oauser', 'From: a@example.com\r\nSubject: via oauth\r\n\r\nhello\r\n');
    await kit.fake.waitForMessages(1, { timeoutMs: 10_000 });
    expect(kit.fake.messages().map((m) => m.plainText)).toEqual(['via oauth']);
    expect(await dovecot.readLog()).toMatch(/method=(OAUTHBEARER|XOAUTH2)/);
  });

  it('a POP3 mailbox logs in with AUTH XOAUTH2, refreshes the token the server refuses, and mail flows', async () => {
    provider.grant('refresh-p', 'popuser');
    const mb = await oauthMailbox(
      {
        tokenUrl: provider.tokenUrl,
        clientId: 'np-client',
        refreshToken: 'refresh-p',
        accessToken: 'never-issued-pop',
        expiresAt: Date.now() + 3600_000,
      },
      {
        name: 'oauth pop3',
        protocol: 'pop3',
        port: dovecot.pop3Port,
        username: 'popuser',
        mode: 'poll',
        pollIntervalSeconds: 1,
      },
    );
    const before = provider.refreshes.length;
    const delivered = kit.fake.messages().length;
    ensureWorker();
    // the first poll takes the baseline: it needs a successful login
    const row = await waitForMailbox(
      mb.id,
      (r) => r.status === 'ok' && r.uidValidity === POP3_BASELINE_TAKEN,
    );
    expect(provider.refreshes.slice(before)).toEqual([
      { refreshToken: 'refresh-p', clientId: 'np-client' },
    ]);
    const secret = openOAuth2Secret(t.deps.secrets, row.secretEncrypted);
    expect(provider.active.get(secret.accessToken!)).toBe('popuser');
    expect(await dovecot.readLog()).toMatch(
      /pop3-login: Info: Login: user=<popuser>, method=XOAUTH2/,
    );

    await dovecot.append('popuser', 'From: b@example.com\r\nSubject: via pop3 oauth\r\n\r\nhi\r\n');
    await kit.fake.waitForMessages(delivered + 1, { timeoutMs: 10_000 });
    expect(
      kit.fake
        .messages()
        .slice(delivered)
        .map((m) => m.plainText),
    ).toEqual(['via pop3 oauth']);
    // later polls reuse the stored token
    expect(provider.refreshes.length).toBe(before + 1);
  });
});
