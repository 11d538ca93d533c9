import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { connectDatabase } from '../src/db/client.js';
import { migrationsFolder, runMigrations } from '../src/db/migrate.js';

export const ADMIN_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Name of the migrated template database for the current migrations. */
export function templateName(): string {
  const hash = createHash('sha256');
  for (const f of readdirSync(migrationsFolder).sort())
    if (f.endsWith('.sql')) hash.update(readFileSync(join(migrationsFolder, f)));
  return `np_tpl_${hash.digest('hex').slice(0, 12)}`;
}

/** Vitest global setup: one migrated template database, cloned per test file. */
export default async function setup(): Promise<void> {
  const name = templateName();
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    const exists = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount) return;
    await admin.query('select pg_advisory_lock(42001)');
    const again = await admin.query('select 1 from pg_database where datname = $1', [name]);
    if (!again.rowCount) {
      const building = `${name}_build`;
      await admin.query(`drop database if exists ${building}`);
      await admin.query(`create database ${building}`);
      const handle = connectDatabase(ADMIN_URL.replace(/\/[^/]*$/, `/${building}`), 2);
      await runMigrations(handle.db);
      await handle.close();
      await admin.query(`alter database ${building} rename to ${name}`);
    }
  } finally {
    await admin.end();
  }
}
