import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../db/schema.js';
import { createTestApp, type TestApp } from '../../test/app.js';
import { addMember, createApiKey, signup, type SignedUp } from '../../test/factories.js';

/**
 * Every org route and the least role it needs. A route added without an entry here fails the
 * first test, so each new route gets its tenancy and role checks. Keep sorted by path.
 */
const matrix: Array<{ method: string; url: string; minRole: Role }> = [
  { method: 'GET', url: '/api/v1/orgs/:orgId', minRole: 'viewer' },
  { method: 'PATCH', url: '/api/v1/orgs/:orgId', minRole: 'admin' },
  { method: 'DELETE', url: '/api/v1/orgs/:orgId', minRole: 'owner' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/alerts', minRole: 'viewer' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/api-keys', minRole: 'viewer' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/api-keys', minRole: 'admin' },
  { method: 'DELETE', url: '/api/v1/orgs/:orgId/api-keys/:keyId', minRole: 'admin' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/audit-log', minRole: 'viewer' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/logs', minRole: 'viewer' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/bots', minRole: 'viewer' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/bots', minRole: 'admin' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/bots/:botId', minRole: 'viewer' },
  { method: 'PATCH', url: '/api/v1/orgs/:orgId/bots/:botId', minRole: 'admin' },
  { method: 'DELETE', url: '/api/v1/orgs/:orgId/bots/:botId', minRole: 'admin' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/bots/:botId/start', minRole: 'admin' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/bots/:botId/stop', minRole: 'admin' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/bots/:botId/restart', minRole: 'admin' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/chats', minRole: 'viewer' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/chats', minRole: 'operator' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/chats/:chatId', minRole: 'viewer' },
  { method: 'PATCH', url: '/api/v1/orgs/:orgId/chats/:chatId', minRole: 'operator' },
  { method: 'DELETE', url: '/api/v1/orgs/:orgId/chats/:chatId', minRole: 'operator' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/members', minRole: 'viewer' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/members', minRole: 'admin' },
  { method: 'PATCH', url: '/api/v1/orgs/:orgId/members/:userId', minRole: 'admin' },
  { method: 'DELETE', url: '/api/v1/orgs/:orgId/members/:userId', minRole: 'admin' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/notifications', minRole: 'operator' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/notifications', minRole: 'viewer' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/notifications/:id', minRole: 'viewer' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/deliveries', minRole: 'viewer' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/deliveries/:id', minRole: 'viewer' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/deliveries/:id/retry', minRole: 'operator' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/stats', minRole: 'viewer' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/rules', minRole: 'viewer' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/rules', minRole: 'operator' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/rules/:ruleId', minRole: 'viewer' },
  { method: 'PATCH', url: '/api/v1/orgs/:orgId/rules/:ruleId', minRole: 'operator' },
  { method: 'DELETE', url: '/api/v1/orgs/:orgId/rules/:ruleId', minRole: 'operator' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/rules/:ruleId/test', minRole: 'viewer' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/webhooks', minRole: 'viewer' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/webhooks', minRole: 'operator' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/webhooks/:webhookId', minRole: 'viewer' },
  { method: 'PATCH', url: '/api/v1/orgs/:orgId/webhooks/:webhookId', minRole: 'operator' },
  { method: 'DELETE', url: '/api/v1/orgs/:orgId/webhooks/:webhookId', minRole: 'operator' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/events', minRole: 'viewer' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/events/:eventId', minRole: 'viewer' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/export', minRole: 'admin' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/export', minRole: 'owner' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/import', minRole: 'owner' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/mailboxes', minRole: 'viewer' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/mailboxes', minRole: 'admin' },
  { method: 'GET', url: '/api/v1/orgs/:orgId/mailboxes/:mailboxId', minRole: 'viewer' },
  { method: 'PATCH', url: '/api/v1/orgs/:orgId/mailboxes/:mailboxId', minRole: 'admin' },
  { method: 'DELETE', url: '/api/v1/orgs/:orgId/mailboxes/:mailboxId', minRole: 'admin' },
  { method: 'POST', url: '/api/v1/orgs/:orgId/mailboxes/:mailboxId/test', minRole: 'admin' },
];

const rank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };
const belowOf = (min: Role) => (Object.keys(rank) as Role[]).filter((r) => rank[r] < rank[min]);
const someUuid = '00000000-0000-4000-8000-000000000000';

let t: TestApp;
let owner: SignedUp;
let stranger: SignedUp;
let strangerKey: string;
const tokensByRole = {} as Record<Role, string>;
const keysByRole = {} as Record<Role, string>;

beforeAll(async () => {
  t = await createTestApp();
  owner = await signup(t);
  stranger = await signup(t);
  strangerKey = (await createApiKey(t, stranger, 'owner')).key;
  tokensByRole.owner = owner.token;
  for (const role of ['admin', 'operator', 'viewer'] as const)
    tokensByRole[role] = (await addMember(t, owner, role)).token;
  for (const role of ['owner', 'admin', 'operator', 'viewer'] as const)
    keysByRole[role] = (await createApiKey(t, owner, role)).key;
});
afterAll(() => t.close());

const fill = (url: string, orgId: string) =>
  url.replace(':orgId', orgId).replace(/:[A-Za-z]+/g, someUuid);

describe('org route access matrix', () => {
  it('has an entry for every org route (add one when you add a route)', () => {
    const orgRoutes = t.app.declaredRoutes
      .filter((r) => r.access.kind === 'org')
      .map((r) => `${r.method} ${r.url}`);
    const listed = matrix.map((m) => `${m.method} ${m.url}`);
    expect(orgRoutes.filter((r) => !listed.includes(r))).toEqual([]);
    expect(listed.filter((r) => !orgRoutes.includes(r))).toEqual([]);
    for (const m of matrix) {
      const declared = t.app.declaredRoutes.find((r) => r.method === m.method && r.url === m.url);
      expect(declared?.access, `${m.method} ${m.url}`).toEqual({ kind: 'org', minRole: m.minRole });
    }
  });

  for (const m of matrix) {
    it(`${m.method} ${m.url}: 404 to another org's session and API key, 401 without credentials`, async () => {
      const url = fill(m.url, owner.orgId);
      for (const token of [stranger.token, strangerKey]) {
        const res = await t.request({
          method: m.method as 'GET',
          url,
          token,
          payload: m.method === 'GET' || m.method === 'DELETE' ? undefined : {},
        });
        expect(res.statusCode, `${m.method} ${url}`).toBe(404);
      }
      const anonymous = await t.request({ method: m.method as 'GET', url });
      expect(anonymous.statusCode).toBe(401);
    });

    if (m.minRole !== 'viewer') {
      it(`${m.method} ${m.url}: 403 to roles below ${m.minRole}, by session and by API key`, async () => {
        const url = fill(m.url, owner.orgId);
        for (const role of belowOf(m.minRole)) {
          for (const token of [tokensByRole[role], keysByRole[role]]) {
            const res = await t.request({
              method: m.method as 'GET',
              url,
              token,
              payload: m.method === 'GET' || m.method === 'DELETE' ? undefined : {},
            });
            expect(res.statusCode, `${role} ${m.method} ${url}`).toBe(403);
          }
        }
      });
    }
  }

  it('answers 404 for a malformed org id and for the superadmin area to non-superadmins', async () => {
    expect(
      (await t.request({ method: 'GET', url: '/api/v1/orgs/not-a-uuid', token: owner.token }))
        .statusCode,
    ).toBe(404);
    expect(
      (await t.request({ method: 'GET', url: '/api/v1/admin/orgs', token: stranger.token }))
        .statusCode,
    ).toBe(404);
    expect(
      (await t.request({ method: 'GET', url: '/api/v1/admin/logs', token: keysByRole.owner }))
        .statusCode,
    ).toBe(404);
  });
});
