import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { buildApp } from '../server/src/app.js';
import { loadConfig } from '../server/src/config.js';
import { connectDatabase } from '../server/src/db/client.js';
import { runMigrations } from '../server/src/db/migrate.js';
import { createLogger } from '../server/src/logger.js';
import { httpLoad } from './http-load.js';
import type { Bench } from './run.js';

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The api over the machine's real PostgreSQL: /healthz, /me (session lookup), signup cost. */
const bench: Bench = {
  name: 'api',
  async run() {
    const name = `np_bench_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const database = connectDatabase(ADMIN_URL.replace(/\/[^/]*$/, `/${name}`), 20);
    try {
      await runMigrations(database.db);
      const config = loadConfig({
        LOG_LEVEL: 'silent',
        WEB_DIST_DIR: '/nonexistent',
        DATABASE_URL: 'postgres://x@127.0.0.1/x',
      });
      const { app } = await buildApp({
        config,
        db: database.db,
        secretKey: 'bench-secret-key-0123456789abcdef0123',
        log: createLogger('silent'),
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      const signup = await fetch(`${base}/api/v1/auth/signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: 'bench@example.test',
          password: 'bench password',
          name: 'B',
          organizationName: 'Bench',
        }),
      });
      const { token } = (await signup.json()) as { token: string };
      const health = await httpLoad({
        url: `${base}/healthz`,
        concurrency: 32,
        seconds: 5,
        expectStatus: 200,
      });
      const me = await httpLoad({
        url: `${base}/api/v1/me`,
        headers: { authorization: `Bearer ${token}` },
        concurrency: 32,
        seconds: 5,
        expectStatus: 200,
      });
      await app.close();
      const fmt = (r: typeof health) => `${r.perSecond.toFixed(0)}/s`;
      const lat = (r: typeof health) =>
        `p50 ${r.p50ms.toFixed(1)} ms, p99 ${r.p99ms.toFixed(1)} ms, ${r.errors} errors`;
      return [
        { bench: 'api', metric: 'GET /healthz', value: fmt(health), note: lat(health) },
        {
          bench: 'api',
          metric: 'GET /api/v1/me (session + memberships from PostgreSQL)',
          value: fmt(me),
          note: lat(me),
        },
      ];
    } finally {
      await database.close();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  },
};
export default bench;
