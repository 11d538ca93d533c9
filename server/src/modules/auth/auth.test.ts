import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { eq } from 'drizzle-orm';
import { apiKeys } from '../../db/schema.js';
import { addMember, createApiKey, signup } from '../../../test/factories.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '3' });
});
afterAll(() => t.close());

describe('auth', () => {
  it('signs up, making the first account the superadmin and the owner of a new org', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/auth/signup',
      payload: {
        email: 'First@Example.test',
        password: 'long enough pw',
        name: 'First',
        organizationName: 'Hotel',
      },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.token).toMatch(/^nps_/);
    expect(body.user).toMatchObject({
      email: 'first@example.test',
      name: 'First',
      isSuperadmin: true,
    });
    expect(body.organization.name).toBe('Hotel');
    const me = await t.request({ method: 'GET', url: '/api/v1/me', token: body.token });
    expect(me.json().memberships).toEqual([
      { organization: { id: body.organization.id, name: 'Hotel' }, role: 'owner' },
    ]);
    const second = await signup(t);
    const me2 = await t.request({ method: 'GET', url: '/api/v1/me', token: second.token });
    expect(me2.json().user.isSuperadmin).toBe(false);
  });

  it('answers 409 to a duplicate e-mail, whatever its case', async () => {
    const a = await signup(t);
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/auth/signup',
      payload: {
        email: a.email.toUpperCase(),
        password: 'long enough pw',
        name: 'X',
        organizationName: 'Y',
      },
    });
    expect(res.statusCode).toBe(409);
    expect(res.headers['content-type']).toContain('application/problem+json');
  });

  it('answers 400 problem+json naming the offending field', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/auth/signup',
      payload: { email: 'not-an-email', password: 'short', name: '', organizationName: 'x' },
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body).toMatchObject({ status: 400, title: 'Bad Request' });
    const paths = body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['body.email', 'body.password', 'body.name']));
  });

  it('answers 400 to a body that is not JSON', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'content-type': 'application/json' },
      payload: '{"email": ',
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
  });

  it('logs in, and logout revokes the session at once', async () => {
    const a = await signup(t);
    const login = await t.request({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: a.email, password: a.password },
    });
    expect(login.statusCode).toBe(200);
    const token = login.json().token;
    expect((await t.request({ method: 'GET', url: '/api/v1/me', token })).statusCode).toBe(200);
    expect(
      (await t.request({ method: 'POST', url: '/api/v1/auth/logout', token })).statusCode,
    ).toBe(204);
    expect((await t.request({ method: 'GET', url: '/api/v1/me', token })).statusCode).toBe(401);
    // The other session of the same user is untouched.
    expect((await t.request({ method: 'GET', url: '/api/v1/me', token: a.token })).statusCode).toBe(
      200,
    );
  });

  it('answers 401 to a wrong password, an unknown account and a missing token', async () => {
    const a = await signup(t);
    expect(
      (
        await t.request({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { email: a.email, password: 'wrong password' },
        })
      ).statusCode,
    ).toBe(401);
    expect(
      (
        await t.request({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { email: 'nobody@example.test', password: 'whatever1' },
        })
      ).statusCode,
    ).toBe(401);
    expect((await t.request({ method: 'GET', url: '/api/v1/me' })).statusCode).toBe(401);
    expect(
      (await t.request({ method: 'GET', url: '/api/v1/me', token: 'nps_forged' })).statusCode,
    ).toBe(401);
  });

  it('locks an account after repeated failures with 429 and Retry-After, even for the right password', async () => {
    const a = await signup(t);
    for (let i = 0; i < 3; i++) {
      await t.request({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: a.email, password: 'wrong password' },
      });
    }
    const res = await t.request({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: a.email, password: a.password },
    });
    expect(res.statusCode).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('rate-limits logins per IP with 429 and Retry-After', async () => {
    const ip = { remoteAddress: '203.0.113.9' };
    let last = 0;
    let retryAfter: string | undefined;
    for (let i = 0; i < 25; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: `x${i}@example.test`, password: 'whatever1' },
        ...ip,
      });
      last = res.statusCode;
      retryAfter = res.headers['retry-after'] as string | undefined;
      if (last === 429) break;
    }
    expect(last).toBe(429);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });

  it('requires a CSRF token for unsafe requests authenticated by the session cookie', async () => {
    const a = await signup(t);
    const login = await t.request({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: a.email, password: a.password },
    });
    const { token, csrfToken } = login.json();
    const cookie = `np_session=${token}`;
    expect(login.headers['set-cookie']).toContain('HttpOnly');
    expect(
      (await t.request({ method: 'GET', url: '/api/v1/me', headers: { cookie } })).statusCode,
    ).toBe(200);
    const without = await t.request({
      method: 'POST',
      url: '/api/v1/orgs',
      headers: { cookie },
      payload: { name: 'N' },
    });
    expect(without.statusCode).toBe(403);
    const withToken = await t.request({
      method: 'POST',
      url: '/api/v1/orgs',
      headers: { cookie, 'x-csrf-token': csrfToken },
      payload: { name: 'N' },
    });
    expect(withToken.statusCode).toBe(201);
  });

  it('closes sign-up when ALLOW_SIGNUP is false (but not for the first account)', async () => {
    const closed = await createTestApp({ ALLOW_SIGNUP: 'false' });
    try {
      const payload = (email: string) => ({
        email,
        password: 'long enough pw',
        name: 'A',
        organizationName: 'B',
      });
      expect(
        (
          await closed.request({
            method: 'POST',
            url: '/api/v1/auth/signup',
            payload: payload('first@example.test'),
          })
        ).statusCode,
      ).toBe(201);
      expect(
        (
          await closed.request({
            method: 'POST',
            url: '/api/v1/auth/signup',
            payload: payload('second@example.test'),
          })
        ).statusCode,
      ).toBe(403);
    } finally {
      await closed.close();
    }
  });

  it('answers concurrent requests each as its own principal (lookups share one query per turn)', async () => {
    const a = await signup(t);
    const b = await signup(t);
    const keyA = await createApiKey(t, a, 'viewer');
    const keyB = await createApiKey(t, b, 'admin');
    const expired = await createApiKey(t, b, 'admin');
    await t.deps.db
      .update(apiKeys)
      .set({ expiresAt: new Date(Date.now() - 1000) })
      .where(eq(apiKeys.id, expired.id));
    const asks = [
      [a.token, a.orgId, 200],
      [keyA.key, a.orgId, 200],
      [keyB.key, b.orgId, 200],
      [b.token, b.orgId, 200],
      [keyA.key, b.orgId, 404],
      [keyB.key, a.orgId, 404],
      [expired.key, b.orgId, 401],
      ['npk_unknown', b.orgId, 401],
      ['nps_unknown', b.orgId, 401],
    ] as const;
    const answers = await Promise.all(
      [...asks, ...asks].map(([token, orgId]) =>
        t.request({ method: 'GET', url: `/api/v1/orgs/${orgId}/chats`, token }),
      ),
    );
    expect(answers.map((r) => r.statusCode)).toEqual([...asks, ...asks].map(([, , s]) => s));
  });

  it('GET /me lists every organization with its role (in one query), and none once removed', async () => {
    const a = await signup(t);
    const b = await signup(t);
    const member = await addMember(t, a, 'viewer');
    await t.request({
      method: 'POST',
      url: `/api/v1/orgs/${b.orgId}/members`,
      token: b.token,
      payload: { email: member.email, name: 'x', role: 'operator' },
    });
    const me = async () =>
      (await t.request({ method: 'GET', url: '/api/v1/me', token: member.token })).json() as {
        user: { email: string };
        memberships: Array<{ organization: { id: string }; role: string }>;
      };
    const both = await me();
    expect(both.user.email).toBe(member.email);
    expect(
      both.memberships
        .map((m) => [m.organization.id, m.role])
        .sort((x, y) => (x[0]! < y[0]! ? -1 : 1)),
    ).toEqual(
      [
        [a.orgId, 'viewer'],
        [b.orgId, 'operator'],
      ].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)),
    );
    for (const org of [a, b]) {
      const res = await t.request({
        method: 'DELETE',
        url: `/api/v1/orgs/${org.orgId}/members/${member.userId}`,
        token: org.token,
      });
      expect(res.statusCode).toBe(204);
    }
    const none = await me();
    expect(none.user.email).toBe(member.email);
    expect(none.memberships).toEqual([]);
  });

  it('serves health, readiness and the OpenAPI document', async () => {
    expect((await t.request({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await t.request({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().status).toBe('ready');
    const doc = (await t.request({ method: 'GET', url: '/api/openapi.json' })).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/auth/signup', '/api/v1/orgs/{orgId}/members']),
    );
    expect((await t.request({ method: 'GET', url: '/api/docs/' })).statusCode).toBe(200);
    const res = await t.request({ method: 'GET', url: '/healthz' });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });
});
