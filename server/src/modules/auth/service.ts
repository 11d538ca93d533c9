import { hash, verify } from '@node-rs/argon2';
import type { FastifyRequest } from 'fastify';
import type { AppDeps } from '../../app.js';
import { generateToken, hashToken, safeEqual } from '../../crypto/secrets.js';
import { AppError, conflict } from '../../errors.js';
import type { Actor, Principal } from '../../http/access.js';
import { auditRepository } from '../audit/repository.js';
import { orgRepository } from '../orgs/repository.js';
import { batchLookup } from '../../db/batch-lookup.js';
import { apiKeyLookup, sessionRepository, userRepository } from './repository.js';
import { LoginLimiter } from './login-limiter.js';

export const SESSION_COOKIE = 'np_session';

/** argon2id with OWASP's second recommended profile (19 MiB, t=2). */
export const hashPassword = (password: string) =>
  hash(password, { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 });

// A hash to verify against when the account does not exist, so timing does not reveal it.
let dummyHash: Promise<string> | null = null;

export type PublicUser = { id: string; email: string; name: string; isSuperadmin: boolean };
const publicUser = (u: {
  id: string;
  email: string;
  name: string;
  isSuperadmin: boolean;
}): PublicUser => ({
  id: u.id,
  email: u.email,
  name: u.name,
  isSuperadmin: u.isSuperadmin,
});

export function createAuthService(deps: AppDeps) {
  const { db, config, secrets } = deps;
  const findApiKey = batchLookup(apiKeyLookup.findLiveMany(db), (key) => key.keyHash);
  const profile = userRepository.profile(db);
  const findSession = batchLookup(
    sessionRepository.findLiveMany(db),
    (found) => found.session.tokenHash,
  );
  const limiter = new LoginLimiter(
    config.loginMaxFailuresPerAccount,
    config.loginLockoutSeconds * 1000,
  );

  async function openSession(userId: string, ip: string | null, userAgent: string | null) {
    const token = generateToken('nps');
    const expiresAt = new Date(Date.now() + config.sessionTtlHours * 3600_000);
    const session = await sessionRepository.insert(db, {
      userId,
      tokenHash: hashToken(token),
      expiresAt,
      ip,
      userAgent,
    });
    return { token, expiresAt, csrfToken: secrets.sign('csrf', session.id) };
  }

  return {
    async signup(
      input: { email: string; password: string; name: string; organizationName: string },
      actor: Actor,
      userAgent: string | null,
    ) {
      const passwordHash = await hashPassword(input.password);
      const result = await db.transaction(async (tx) => {
        // Serialize signups so exactly one first account becomes the superadmin.
        await tx.execute('select pg_advisory_xact_lock(7301)' as never);
        const first = (await userRepository.count(tx)) === 0;
        if (!first && !config.allowSignup)
          throw new AppError('forbidden', 'Sign-up is closed on this installation');
        if (await userRepository.findByEmail(tx, input.email))
          throw conflict('An account with this e-mail already exists');
        const user = await userRepository.insert(tx, {
          email: input.email,
          name: input.name,
          passwordHash,
          isSuperadmin: first,
        });
        const org = await orgRepository.insert(tx, input.organizationName);
        await orgRepository.addMember(tx, org.id, user.id, 'owner');
        const self: Actor = { ...actor, type: 'user', id: user.id, label: user.email };
        await auditRepository.record(tx, org.id, self, {
          action: 'organization.create',
          targetType: 'organization',
          targetId: org.id,
          after: { name: org.name },
        });
        return { user, org };
      });
      const session = await openSession(result.user.id, actor.ip, userAgent);
      return {
        ...session,
        user: publicUser(result.user),
        organization: { id: result.org.id, name: result.org.name },
      };
    },

    async login(
      input: { email: string; password: string },
      ip: string | null,
      userAgent: string | null,
    ) {
      const account = input.email.toLowerCase();
      const wait = limiter.retryAfter(account);
      if (wait > 0)
        throw new AppError(
          'rate_limited',
          'Too many failed logins for this account; try again later',
          { retryAfterSeconds: wait },
        );
      const user = await userRepository.findByEmail(db, input.email);
      dummyHash ??= hashPassword('not-a-real-password');
      const ok = await verify(user?.passwordHash ?? (await dummyHash), input.password);
      if (!user || !ok) {
        limiter.fail(account);
        throw new AppError('unauthorized', 'Wrong e-mail or password');
      }
      limiter.succeed(account);
      const session = await openSession(user.id, ip, userAgent);
      return { ...session, user: publicUser(user) };
    },

    async logout(principal: Principal) {
      if (principal.type === 'user') await sessionRepository.revoke(db, principal.sessionId);
    },

    async me(userId: string) {
      const found = await profile(userId);
      if (!found) throw new AppError('unauthorized', 'Account no longer exists');
      const { user, memberships } = found;
      return {
        user: publicUser(user),
        memberships: memberships.map((m) => ({
          organization: { id: m.id, name: m.name },
          role: m.role,
        })),
      };
    },

    /** Bearer session token, Bearer API key, or the session cookie (then unsafe methods need CSRF). */
    async resolvePrincipal(request: FastifyRequest): Promise<Principal | null> {
      const header = request.headers.authorization;
      let token: string | undefined;
      let viaCookie = false;
      if (header?.toLowerCase().startsWith('bearer ')) token = header.slice(7).trim();
      else if (request.cookies?.[SESSION_COOKIE]) {
        token = request.cookies[SESSION_COOKIE];
        viaCookie = true;
      }
      if (!token) return null;
      if (token.startsWith('npk_')) {
        const key = await findApiKey(hashToken(token));
        if (!key) return null;
        return {
          type: 'api_key',
          keyId: key.id,
          orgId: key.orgId,
          role: key.role,
          label: `api-key:${key.name}`,
        };
      }
      const found = await findSession(hashToken(token));
      if (!found) return null;
      if (viaCookie && !['GET', 'HEAD', 'OPTIONS'].includes(request.method)) {
        const sent = request.headers['x-csrf-token'];
        if (typeof sent !== 'string' || !safeEqual(sent, secrets.sign('csrf', found.session.id))) {
          throw new AppError('forbidden', 'Missing or wrong X-CSRF-Token header');
        }
      }
      return {
        type: 'user',
        userId: found.user.id,
        sessionId: found.session.id,
        isSuperadmin: found.user.isSuperadmin,
        label: found.user.email,
        viaCookie,
      };
    },

    roleIn: (orgId: string, userId: string) => userRepository.roleIn(db, orgId, userId),

    /** `notifypro create-admin`: creates or promotes the installation's superadmin. */
    async createAdmin(input: { email: string; password: string; name: string }) {
      const existing = await userRepository.findByEmail(db, input.email);
      if (existing) {
        await userRepository.setSuperadmin(db, existing.id);
        await userRepository.setPassword(db, existing.id, await hashPassword(input.password));
        return publicUser({ ...existing, isSuperadmin: true });
      }
      const user = await userRepository.insert(db, {
        ...input,
        passwordHash: await hashPassword(input.password),
        isSuperadmin: true,
      });
      return publicUser(user);
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
