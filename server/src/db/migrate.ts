import { fileURLToPath } from 'node:url';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import { poolOf, type Database } from './client.js';

export const migrationsFolder = fileURLToPath(new URL('./migrations', import.meta.url));

/** The advisory lock key held while migrating ("npmigrat" in ASCII, truncated to int4). */
const MIGRATION_LOCK = 0x6e706d69;

/**
 * Applies every committed SQL migration not yet applied (idempotent). Replicas starting at
 * once (api and several workers) take turns under a PostgreSQL advisory lock: drizzle's
 * migrator has none, and two running the same migration at once fail on the second.
 */
export async function runMigrations(db: Database): Promise<void> {
  const pool = poolOf(db);
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await migrate(db, { migrationsFolder });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    }
  } finally {
    client.release();
  }
}
