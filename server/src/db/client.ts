import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import * as schema from './schema.js';

export type Database = NodePgDatabase<typeof schema>;
/** A transaction or the database itself: repository methods accept either. */
export type Executor = Database | Parameters<Parameters<Database['transaction']>[0]>[0];

export type DatabaseHandle = { db: Database; pool: pg.Pool; close(): Promise<void> };

/** The pg pool under a Drizzle handle (for named statements, advisory locks). */
export const poolOf = (db: Database): pg.Pool => (db as Database & { $client: pg.Pool }).$client;

/** Opens a connection pool and the Drizzle handle over it. */
export function connectDatabase(url: string, poolSize = 10): DatabaseHandle {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client's error (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  const db = drizzle(pool, { schema });
  return { db, pool, close: () => pool.end() };
}

/**
 * Runs `fn` only if this process gets the PostgreSQL session advisory lock `key` (on a
 * connection of its own, held while `fn` runs; `fn` uses the pool as usual). Returns
 * `skipped` when another process holds it. A crashed holder's lock goes with its connection.
 */
export async function withAdvisoryLock<T>(
  db: Database,
  key: number,
  fn: () => Promise<T>,
): Promise<{ skipped: true } | { skipped: false; value: T }> {
  const pool = poolOf(db);
  const client = await pool.connect();
  let healthy = true;
  try {
    const got = await client
      .query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [key])
      .catch((err: Error) => {
        healthy = false;
        throw err;
      });
    if (!got.rows[0]?.ok) return { skipped: true };
    try {
      return { skipped: false, value: await fn() };
    } finally {
      // a connection that may still hold the lock is closed, never reused
      await client.query('select pg_advisory_unlock($1)', [key]).catch(() => {
        healthy = false;
      });
    }
  } finally {
    client.release(!healthy);
  }
}
