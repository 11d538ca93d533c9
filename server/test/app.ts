import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp, type AppDeps } from '../src/app.js';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export type TestApp = {
  app: FastifyInstance;
  deps: AppDeps;
  database: TestDatabase;
  config: Config;
  request(opts: InjectOptions & { token?: string }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
};

/** The real api over a fresh real database; requests go through `inject()` (no port). */
export async function createTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  const config = loadConfig({
    DATA_DIR: '/tmp/np-test-data',
    LOG_LEVEL: 'silent',
    WEB_DIST_DIR: '/nonexistent',
    ...env,
    DATABASE_URL: database.url,
  });
  const { app, deps } = await buildApp({
    config,
    db: database.db,
    secretKey: 'test-secret-key-0123456789abcdef0123456789',
    log: createLogger('silent'),
  });
  await app.ready();
  return {
    app,
    deps,
    database,
    config,
    request: ({ token, headers, ...opts }) =>
      app.inject({
        ...opts,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      }),
    async close() {
      await app.close();
      await database.drop();
    },
  };
}
