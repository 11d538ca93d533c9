import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
});
