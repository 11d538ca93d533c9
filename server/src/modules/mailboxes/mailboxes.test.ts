import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, mailboxes } from '../../db/schema.js';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { startDovecot, type DovecotServer } from '../../../test/dovecot.js';
import { signup, type SignedUp } from '../../../test/factories.js';

let dovecot: DovecotServer;
let lan: TestApp;
let strict: TestApp;
let owner: SignedUp;
let strictOwner: SignedUp;

beforeAll(async () => {
  dovecot = await startDovecot({ users: { alice: 'secret' } });
  lan = await createTestApp({ MAIL_ALLOW_PRIVATE_HOSTS: 'true' });
  strict = await createTestApp();
  owner = await signup(lan);
  strictOwner = await signup(strict);
});
afterAll(async () => {
  await lan?.close();
  await strict?.close();
  await dovecot?.stop();
});

const body = (over: Record<string, unknown> = {}) => ({
  name: 'Inbox',
  protocol: 'imap',
  host: '127.0.0.1',
  port: dovecot.imapPort,
  security: 'none',
  username: 'alice',
  password: 'secret',
  ...over,
});

describe('mailboxes', () => {
  it('creates a mailbox without ever returning its password, and tests the login', async () => {
    const res = await lan.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/mailboxes`,
      token: owner.token,
      payload: body(),
    });
    expect(res.statusCode).toBe(201);
    expect(JSON.stringify(res.json())).not.toContain('secret');
    const ok = await lan.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/mailboxes/${res.json().id}/test`,
      token: owner.token,
    });
    expect(ok.json()).toEqual({ ok: true });

    const bad = await lan.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/mailboxes`,
      token: owner.token,
      payload: body({ password: 'wrong' }),
    });
    const failed = await lan.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/mailboxes/${bad.json().id}/test`,
      token: owner.token,
    });
    expect(failed.json().ok).toBe(false);
    expect(failed.json().error).toBeTruthy();

    const pop = await lan.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/mailboxes`,
      token: owner.token,
      payload: body({ protocol: 'pop3', port: dovecot.pop3Port }),
    });
    const popOk = await lan.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/mailboxes/${pop.json().id}/test`,
      token: owner.token,
    });
    expect(popOk.json()).toEqual({ ok: true });
  });

  it('refuses 127.0.0.1 without MAIL_ALLOW_PRIVATE_HOSTS', async () => {
    const res = await strict.request({
      method: 'POST',
      url: `/api/v1/orgs/${strictOwner.orgId}/mailboxes`,
      token: strictOwner.token,
      payload: body(),
    });
    expect(res.statusCode).toBe(400);
  });

  it('PATCH changes settings, replaces the password write-only, and restarts the cursor when the folder moves', async () => {
    const created = await lan.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/mailboxes`,
      token: owner.token,
      payload: body({ name: 'to patch' }),
    });
    const id = created.json().id as string;
    const url = `/api/v1/orgs/${owner.orgId}/mailboxes/${id}`;
    await lan.deps.db
      .update(mailboxes)
      .set({ uidValidity: '7', lastUid: 42 })
      .where(eq(mailboxes.id, id));

    const patched = await lan.request({
      method: 'PATCH',
      url,
      token: owner.token,
      payload: {
        name: 'patched',
        enabled: false,
        mode: 'poll',
        pollIntervalSeconds: 30,
        markSeen: true,
        password: 'wrong now',
      },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({
      name: 'patched',
      enabled: false,
      mode: 'poll',
      pollIntervalSeconds: 30,
      markSeen: true,
      authType: 'password',
      status: 'pending',
    });
    expect(patched.body).not.toContain('wrong now');
    const [row] = await lan.deps.db.select().from(mailboxes).where(eq(mailboxes.id, id));
    expect(lan.deps.secrets.decrypt(row!.secretEncrypted)).toBe('wrong now');
    expect(row!.lastUid).toBe(42); // same server and folder: the cursor stays
    const test = await lan.request({ method: 'POST', url: `${url}/test`, token: owner.token });
    expect(test.json().ok).toBe(false);

    const back = await lan.request({
      method: 'PATCH',
      url,
      token: owner.token,
      payload: { password: 'secret', folder: 'Archive' },
    });
    expect(back.statusCode).toBe(200);
    const [moved] = await lan.deps.db.select().from(mailboxes).where(eq(mailboxes.id, id));
    expect(moved!.uidValidity).toBeNull();
    expect(moved!.lastUid).toBeNull();
    expect(moved!.updatedAt.getTime()).toBeGreaterThan(row!.updatedAt.getTime() - 1);

    const audit = await lan.deps.db
      .select()
      .from(auditLog)
      .where(and(eq(auditLog.targetId, id), eq(auditLog.action, 'mailbox.update')));
    expect(audit).toHaveLength(2);
    expect(JSON.stringify(audit)).not.toMatch(/wrong now|"secret"|v1\./);
  });

  it('PATCH refuses a blocked host, an unknown field, a protocol change and both password and oauth2', async () => {
    const created = await lan.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/mailboxes`,
      token: owner.token,
      payload: body(),
    });
    const url = `/api/v1/orgs/${owner.orgId}/mailboxes/${created.json().id}`;
    const oauth2 = {
      tokenUrl: 'https://login.example.com/token',
      clientId: 'c',
      refreshToken: 'r',
    };
    for (const payload of [
      { host: '169.254.169.254' },
      { protocol: 'pop3' },
      { secretEncrypted: 'x' },
      { password: 'p', oauth2 },
      { pollIntervalSeconds: 1 },
    ]) {
      const res = await lan.request({ method: 'PATCH', url, token: owner.token, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.headers['content-type']).toMatch(/problem\+json/);
    }
    const strictBox = await strict.deps.db
      .insert(mailboxes)
      .values({
        orgId: strictOwner.orgId,
        name: 'public',
        protocol: 'imap',
        host: '203.0.114.1',
        port: 993,
        security: 'tls',
        username: 'u',
        secretEncrypted: strict.deps.secrets.encrypt('p'),
      })
      .returning();
    const loop = await strict.request({
      method: 'PATCH',
      url: `/api/v1/orgs/${strictOwner.orgId}/mailboxes/${strictBox[0]!.id}`,
      token: strictOwner.token,
      payload: { host: '127.0.0.1' },
    });
    expect(loop.statusCode).toBe(400);
    // another org's mailbox
    const foreign = await lan.request({
      method: 'PATCH',
      url: `/api/v1/orgs/${owner.orgId}/mailboxes/${strictBox[0]!.id}`,
      token: owner.token,
      payload: { name: 'x' },
    });
    expect(foreign.statusCode).toBe(404);
  });

  it('creates an OAuth2 mailbox and switches it to a password by PATCH, never returning tokens', async () => {
    const res = await lan.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/mailboxes`,
      token: owner.token,
      payload: body({
        password: undefined,
        oauth2: {
          tokenUrl: 'https://login.example.com/token',
          clientId: 'client',
          clientSecret: 'client-secret-value',
          refreshToken: 'refresh-token-value',
          accessToken: 'access-token-value',
          accessTokenExpiresIn: 3600,
        },
      }),
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().authType).toBe('oauth2');
    expect(res.body).not.toMatch(/token-value|secret-value/);
    const none = await lan.request({
      method: 'POST',
      url: `/api/v1/orgs/${owner.orgId}/mailboxes`,
      token: owner.token,
      payload: body({ password: undefined }),
    });
    expect(none.statusCode).toBe(400);
    const patched = await lan.request({
      method: 'PATCH',
      url: `/api/v1/orgs/${owner.orgId}/mailboxes/${res.json().id}`,
      token: owner.token,
      payload: { password: 'secret' },
    });
    expect(patched.json().authType).toBe('password');
  });
  it('pages, searches and sorts the list (?offset&limit&sort&order&q), by name unless told', async () => {
    const org = await signup(lan); // an org of its own: the other tests' mailboxes stay out
    for (const [name, lastMessageAt] of [
      ['Gamma', null],
      ['Alpha CI', new Date('2026-01-01T00:00:00Z')],
      ['Delta 100%', new Date('2026-02-01T00:00:00Z')],
      ['Beta CI', null],
      ['Epsilon', null],
    ] as const)
      await lan.deps.db.insert(mailboxes).values({
        orgId: org.orgId,
        name,
        protocol: 'imap',
        host: 'mail.example.com',
        port: 993,
        security: 'tls',
        username: name,
        secretEncrypted: 'x',
        lastMessageAt,
      });
    const list = async (query: string) => {
      const res = await lan.request({
        method: 'GET',
        url: `/api/v1/orgs/${org.orgId}/mailboxes?${query}`,
        token: org.token,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { items: Array<{ name: string }>; total: number };
      return { names: body.items.map((m) => m.name), total: body.total };
    };

    expect(await list('limit=2')).toEqual({ names: ['Alpha CI', 'Beta CI'], total: 5 });
    expect(await list('limit=2&offset=2')).toEqual({
      names: ['Delta 100%', 'Epsilon'],
      total: 5,
    });
    expect(await list('limit=2&offset=4')).toEqual({ names: ['Gamma'], total: 5 });
    expect((await list('sort=name&order=desc&limit=1')).names).toEqual(['Gamma']);
    // the latest mail first; never-read mailboxes last in either order
    expect((await list('sort=lastMessageAt&order=desc&limit=2')).names).toEqual([
      'Delta 100%',
      'Alpha CI',
    ]);
    expect((await list('sort=lastMessageAt&order=asc&limit=2')).names).toEqual([
      'Alpha CI',
      'Delta 100%',
    ]);
    expect(await list('q=ci')).toEqual({ names: ['Alpha CI', 'Beta CI'], total: 2 });
    expect(await list(`q=${encodeURIComponent('%')}`)).toEqual({
      names: ['Delta 100%'],
      total: 1,
    });
    expect(await list('q=_')).toEqual({ names: [], total: 0 });
    const bad = await lan.request({
      method: 'GET',
      url: `/api/v1/orgs/${org.orgId}/mailboxes?sort=secretEncrypted`,
      token: org.token,
    });
    expect(bad.statusCode).toBe(400);
  });
});
