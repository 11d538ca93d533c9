import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_URL } from '../../test/global-setup.js';
import { connectDatabase } from './client.js';
import { migrationsFolder, runMigrations } from './migrate.js';

const name = `np_migrate_${randomBytes(4).toString('hex')}`;
const admin = async (sql: string) => {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
};

afterAll(() => admin(`drop database if exists ${name} with (force)`));

describe('runMigrations', () => {
  it('applies every migration once when several replicas start at the same moment', async () => {
    await admin(`create database ${name}`);
    const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
    // api and two workers against an empty database, all at once
    const replicas = [connectDatabase(url, 3), connectDatabase(url, 3), connectDatabase(url, 3)];
    try {
      const results = await Promise.allSettled(replicas.map((r) => runMigrations(r.db)));
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual([
        'ok',
        'ok',
        'ok',
      ]);
      const applied = await replicas[0]!.pool.query(
        'select count(*)::int as n from drizzle.__drizzle_migrations',
      );
      const files = readdirSync(migrationsFolder).filter((f) => f.endsWith('.sql')).length;
      expect(applied.rows[0].n).toBe(files);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  });
});
