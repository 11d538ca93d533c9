import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type FastifyPluginAsyncZod,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { eq, sql } from 'drizzle-orm';
import { bots } from './db/schema.js';
import type { Config } from './config.js';
import type { Database } from './db/client.js';
import { migrationsFolder } from './db/migrate.js';
import { hashToken, safeEqual, SecretBox } from './crypto/secrets.js';
import type { Logger } from './logger.js';
import { registerAccessControl, supervisorToken } from './http/access.js';
import { registerMetrics } from './metrics.js';
import { problem, registerErrorHandler } from './http/error-handler.js';
import { registerSecurityHeaders } from './http/security-headers.js';
import { adminRoutes } from './modules/admin/routes.js';
import { alertRoutes } from './modules/alerts/routes.js';
import { apiKeyRoutes } from './modules/api-keys/routes.js';
import { auditRoutes } from './modules/audit/routes.js';
import { authRoutes } from './modules/auth/routes.js';
import { botInternalRoutes, telegramIngressRoutes } from './modules/bots/internal-routes.js';
import { botRoutes } from './modules/bots/routes.js';
import { createBotService } from './modules/bots/service.js';
import { chatRoutes } from './modules/chats/routes.js';
import { createChatService } from './modules/chats/service.js';
import { createAuthService } from './modules/auth/service.js';
import { logRepository } from './modules/logs/repository.js';
import { logRoutes } from './modules/logs/routes.js';
import { memberRoutes } from './modules/members/routes.js';
import { createMemberService } from './modules/members/service.js';
import { orgRoutes } from './modules/orgs/routes.js';
import { deliveryRunnerRoutes } from './modules/deliveries/runner-routes.js';
import { notificationRoutes } from './modules/notifications/routes.js';
import { eventRoutes } from './modules/events/routes.js';
import { mailboxRoutes } from './modules/mailboxes/routes.js';
import { ruleRoutes } from './modules/rules/routes.js';
import { statsRoutes } from './modules/stats/routes.js';
import { transferRoutes } from './modules/transfer/routes.js';
import { hookIngressRoutes, webhookRoutes } from './modules/webhooks/routes.js';

type RouteModule = (deps: AppDeps) => FastifyPluginAsyncZod;
/** Route modules under /api/v1, each owning its paths. Add a module here to mount it. */
const apiRouteModules: RouteModule[] = [
  authRoutes,
  orgRoutes,
  memberRoutes,
  apiKeyRoutes,
  auditRoutes,
  logRoutes,
  adminRoutes,
  ruleRoutes,
  webhookRoutes,
  notificationRoutes,
  eventRoutes,
  mailboxRoutes,
  botRoutes,
  chatRoutes,
  statsRoutes,
  transferRoutes,
  alertRoutes,
];
/** Route modules under /internal/v1 (bot runners). */
const internalRouteModules: RouteModule[] = [deliveryRunnerRoutes, botInternalRoutes];
/** Route modules mounted at the root (inbound webhooks, Telegram ingress). */
const rootRouteModules: RouteModule[] = [hookIngressRoutes, telegramIngressRoutes];

export type AppDeps = {
  config: Config;
  db: Database;
  secrets: SecretBox;
  log: Logger;
  services: Services;
};

function createServices(base: Omit<AppDeps, 'services'>) {
  const deps = base as AppDeps;
  const services = {
    auth: createAuthService(deps),
    members: createMemberService(deps),
    bots: createBotService(deps),
    chats: createChatService(deps),
  };
  deps.services = services;
  return services;
}
export type Services = ReturnType<typeof createServices>;

export type BuildAppOptions = { config: Config; db: Database; secretKey: string; log: Logger };

const defaultWebDist = fileURLToPath(new URL('../../web/dist', import.meta.url));

/** Builds the api: plugins, then modules. It does not listen (main.ts does; tests inject). */
export async function buildApp(
  options: BuildAppOptions,
): Promise<{ app: FastifyInstance; deps: AppDeps }> {
  const { config, db, log } = options;
  const base = { config, db, log, secrets: new SecretBox(options.secretKey) };
  createServices(base);
  const deps = base as AppDeps;

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    trustProxy: true,
    genReqId: () => crypto.randomUUID(),
  }).withTypeProvider<ZodTypeProvider>();
  // On close, in-flight requests get a grace period; then every connection is cut, including
  // keep-alive sockets that never sent a request (an aborted long poll leaves those behind).
  app.addHook('preClose', () => {
    setTimeout(() => app.server.closeAllConnections(), 2_000).unref();
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandler(app, {
    // the event log shows that (and where) the api failed; the details stay in pino's log
    onInternalError: (error, request) =>
      void logRepository
        .write(db, request.org?.orgId ?? null, {
          level: 'error',
          source: 'api',
          message: `Internal error on ${request.method} ${request.routeOptions.url ?? request.url.split('?')[0]} (request ${request.id})`,
          context: {
            requestId: request.id,
            method: request.method,
            route: request.routeOptions.url ?? null,
            error: error.name,
          },
        })
        .catch((err: unknown) => request.log.warn({ err }, 'event log write failed')),
  });
  registerMetrics(app, { db, token: config.metricsToken });

  registerSecurityHeaders(app);
  await app.register(cookie);
  await app.register(rateLimit, { global: false });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'NotifyPro API',
        version: '1.0.0',
        description:
          'E-mail, webhooks and API calls to Telegram. Errors are application/problem+json (RFC 9457).',
      },
      components: {
        securitySchemes: {
          bearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'A session token (nps_…) or an organization API key (npk_…)',
          },
        },
      },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs', staticCSP: true });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  registerAccessControl(
    app,
    (request) => deps.services.auth.resolvePrincipal(request),
    (orgId, userId) => deps.services.auth.roleIn(orgId, userId),
    async (runnerToken) => {
      const [bot] = await db
        .select({ botId: bots.id, orgId: bots.orgId })
        .from(bots)
        .where(eq(bots.runnerTokenHash, hashToken(runnerToken)));
      return bot ?? null;
    },
    (token) => safeEqual(token, supervisorToken(deps.secrets)),
  );

  const expectedMigrations = readdirSync(migrationsFolder).filter((f) => f.endsWith('.sql')).length;
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    try {
      const result = await db.execute(
        sql`select count(*)::int as n from drizzle.__drizzle_migrations`,
      );
      const applied = Number((result.rows[0] as { n: number }).n);
      if (applied < expectedMigrations)
        return reply
          .status(503)
          .send({ status: 'migrating', applied, expected: expectedMigrations });
      return { status: 'ready', migrations: applied };
    } catch (err) {
      return reply
        .status(503)
        .send({ status: 'database unreachable', error: (err as Error).message });
    }
  });

  await app.register(
    async (api) => {
      for (const routes of apiRouteModules) {
        await api.register(routes(deps));
      }
    },
    { prefix: '/api/v1' },
  );
  // The internal API of bot runners (per-bot runner token; never exposed to browsers).
  await app.register(
    async (internal) => {
      for (const routes of internalRouteModules) await internal.register(routes(deps));
    },
    { prefix: '/internal/v1' },
  );
  // Outside /api/v1: inbound webhooks (/hooks/{token}) and Telegram ingress (/telegram/webhook/{botId}).
  for (const routes of rootRouteModules) await app.register(routes(deps));

  const webDist = config.webDistDir ?? defaultWebDist;
  const serveSpa = existsSync(webDist);
  if (serveSpa) await app.register(fastifyStatic, { root: webDist, wildcard: true });
  // Client-side routes fall back to the SPA; unknown API paths stay problem+json 404s.
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    if (
      serveSpa &&
      request.method === 'GET' &&
      !/^\/(api|hooks|telegram|internal)\//.test(path) &&
      !path.includes('.')
    ) {
      return reply.sendFile('index.html');
    }
    return reply
      .type('application/problem+json')
      .status(404)
      .send(problem(404, `No route ${request.method} ${path}`));
  });
  return { app, deps };
}
