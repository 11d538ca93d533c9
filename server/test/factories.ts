import { randomBytes } from 'node:crypto';
import type { Role } from '../src/db/schema.js';
import type { TestApp } from './app.js';

const unique = () => randomBytes(4).toString('hex');

export type SignedUp = {
  token: string;
  userId: string;
  orgId: string;
  email: string;
  password: string;
};

/** Signs a new user up through the API (they own a new organization). */
export async function signup(
  t: TestApp,
  overrides: Partial<{
    email: string;
    password: string;
    name: string;
    organizationName: string;
  }> = {},
): Promise<SignedUp> {
  const body = {
    email: `user-${unique()}@example.test`,
    password: 'correct horse battery',
    name: 'Test User',
    organizationName: `Org ${unique()}`,
    ...overrides,
  };
  const res = await t.request({ method: 'POST', url: '/api/v1/auth/signup', payload: body });
  if (res.statusCode !== 201) throw new Error(`signup failed: ${res.statusCode} ${res.body}`);
  const json = res.json();
  return {
    token: json.token,
    userId: json.user.id,
    orgId: json.organization.id,
    email: body.email,
    password: body.password,
  };
}

/** Adds a member with a role to an org and logs them in; returns their session token. */
export async function addMember(
  t: TestApp,
  owner: SignedUp,
  role: Role,
): Promise<{ token: string; userId: string; email: string }> {
  const email = `${role}-${unique()}@example.test`;
  const password = 'member password 123';
  const res = await t.request({
    method: 'POST',
    url: `/api/v1/orgs/${owner.orgId}/members`,
    token: owner.token,
    payload: { email, name: role, role, password },
  });
  if (res.statusCode !== 201) throw new Error(`add member failed: ${res.statusCode} ${res.body}`);
  const login = await t.request({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password },
  });
  return { token: login.json().token, userId: res.json().userId, email };
}

/** Creates an org API key with a role. */
export async function createApiKey(
  t: TestApp,
  owner: SignedUp,
  role: Role,
): Promise<{ id: string; key: string }> {
  const res = await t.request({
    method: 'POST',
    url: `/api/v1/orgs/${owner.orgId}/api-keys`,
    token: owner.token,
    payload: { name: `${role} key`, role },
  });
  if (res.statusCode !== 201)
    throw new Error(`create api key failed: ${res.statusCode} ${res.body}`);
  return res.json();
}
