import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError, forbidden, notFound } from '../errors.js';
import type { Role } from '../db/schema.js';

/** Who a request acts as. */
export type Principal =
  | {
      type: 'user';
      userId: string;
      sessionId: string;
      isSuperadmin: boolean;
      label: string;
      viaCookie: boolean;
    }
  | { type: 'api_key'; keyId: string; orgId: string; role: Role; label: string };

/** What a route requires; every /api route declares one (checked at registration). */
export type Access =
  | { kind: 'public' }
  | { kind: 'user' }
  | { kind: 'org'; minRole: Role }
  | { kind: 'superadmin' }
  /** The internal API of bot runners: `Authorization: Bearer npr_…`, the bot's own runner token. */
  | { kind: 'runner' }
  /** The bots supervisor: `Authorization: Bearer npv_…`, derived from SECRET_KEY (supervisorToken). */
  | { kind: 'supervisor' };

/** The bot a runner request acts for. */
export type RunnerContext = { botId: string; orgId: string };

/** The org a request acts in, resolved from the path and checked before the handler. */
export type OrgContext = { orgId: string; role: Role };

/** Who did it, from where: what the audit log records. */
export type Actor = {
  type: 'user' | 'api_key' | 'system';
  id: string | null;
  label: string | null;
  ip: string | null;
};

export const roleRank: Record<Role, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };
export const atLeast = (role: Role, min: Role) => roleRank[role] >= roleRank[min];

/** A registered route and the access rule it declares (the role matrix test reads these). */
export type DeclaredRoute = { method: string; url: string; access: Access };

declare module 'fastify' {
  interface FastifyInstance {
    declaredRoutes: DeclaredRoute[];
  }
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
    org: OrgContext | null;
    runner: RunnerContext | null;
  }
}

export const access = {
  public: { access: { kind: 'public' } as Access },
  user: { access: { kind: 'user' } as Access },
  superadmin: { access: { kind: 'superadmin' } as Access },
  org: (minRole: Role) => ({ access: { kind: 'org', minRole } as Access }),
  runner: { access: { kind: 'runner' } as Access },
  supervisor: { access: { kind: 'supervisor' } as Access },
};

/** The bots supervisor's credential: every service holding SECRET_KEY derives the same one. */
export function supervisorToken(secrets: { sign(purpose: string, value: string): string }) {
  return `npv_${secrets.sign('supervisor', 'v1')}`;
}

export type PrincipalResolver = (request: FastifyRequest) => Promise<Principal | null>;
export type MembershipLookup = (orgId: string, userId: string) => Promise<Role | null>;
export type RunnerLookup = (runnerToken: string) => Promise<RunnerContext | null>;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The one authorization mechanism: resolves the principal, then the org from `:orgId` with the
 * caller's role in it, and rejects before the handler runs. Foreign orgs answer 404, low roles 403.
 */
export function registerAccessControl(
  app: FastifyInstance,
  resolvePrincipal: PrincipalResolver,
  membershipRole: MembershipLookup,
  runnerLookup: RunnerLookup,
  isSupervisorToken: (token: string) => boolean,
): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('org', null);
  app.decorateRequest('runner', null);
  const declared: DeclaredRoute[] = [];
  app.decorate('declaredRoutes', declared);
  app.addHook('onRoute', (route) => {
    const rule = route.config?.access;
    if ((route.url.startsWith('/api/v1') || route.url.startsWith('/internal/v1')) && !rule) {
      throw new Error(`Route ${route.method} ${route.url} declares no access rule`);
    }
    if (!rule) return;
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') declared.push({ method, url: route.url, access: rule });
    }
  });
  app.addHook('preValidation', async (request) => {
    const rule = request.routeOptions.config.access;
    if (!rule || rule.kind === 'public') return;
    if (rule.kind === 'runner' || rule.kind === 'supervisor') {
      const header = request.headers.authorization ?? '';
      const token = header.toLowerCase().startsWith('bearer ') ? header.slice(7).trim() : '';
      if (rule.kind === 'supervisor') {
        if (!token.startsWith('npv_') || !isSupervisorToken(token))
          throw new AppError('unauthorized', 'Missing or invalid supervisor credentials');
        return;
      }
      const runner = token.startsWith('npr_') ? await runnerLookup(token) : null;
      if (!runner) throw new AppError('unauthorized', 'Missing or invalid runner credentials');
      request.runner = runner;
      return;
    }
    const principal = await resolvePrincipal(request);
    if (!principal) throw new AppError('unauthorized', 'Missing or invalid credentials');
    request.principal = principal;
    if (rule.kind === 'user') {
      if (principal.type !== 'user')
        throw forbidden('This endpoint needs a user session, not an API key');
      return;
    }
    if (rule.kind === 'superadmin') {
      if (principal.type !== 'user' || !principal.isSuperadmin) throw notFound('Resource');
      return;
    }
    const orgId = (request.params as { orgId?: string }).orgId;
    if (!orgId || !uuidPattern.test(orgId)) throw notFound('Organization');
    let role: Role | null;
    if (principal.type === 'api_key') role = principal.orgId === orgId ? principal.role : null;
    else role = await membershipRole(orgId, principal.userId);
    if (!role) throw notFound('Organization');
    request.org = { orgId, role };
    if (!atLeast(role, rule.minRole))
      throw forbidden(`This needs the ${rule.minRole} role or higher`);
  });
}

/** The audit actor of a request. */
export function actorOf(request: FastifyRequest): Actor {
  const p = request.principal;
  if (!p) return { type: 'system', id: null, label: null, ip: request.ip };
  return p.type === 'user'
    ? { type: 'user', id: p.userId, label: p.label, ip: request.ip }
    : { type: 'api_key', id: p.keyId, label: p.label, ip: request.ip };
}

/** The org context of an org route (set by the access hook). */
export function orgOf(request: FastifyRequest): OrgContext {
  if (!request.org) throw new Error('orgOf() used on a route without org access');
  return request.org;
}

/** The bot of an internal runner route (set by the access hook). */
export function runnerOf(request: FastifyRequest): RunnerContext {
  if (!request.runner) throw new Error('runnerOf() used on a route without runner access');
  return request.runner;
}

export const isUuid = (value: string) => uuidPattern.test(value);
