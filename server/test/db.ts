import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectDatabase, type DatabaseHandle } from '../src/db/client.js';
import { ADMIN_URL, templateName } from './global-setup.js';

export type TestDatabase = DatabaseHandle & { url: string; drop(): Promise<void> };

/** A fresh database cloned from the migrated template (fast), dropped by `drop()`. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `np_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.query(`create database ${name} template ${templateName()}`);
      break;
    } catch (err) {
      // "source database is being accessed by other users": another file is cloning too.
      if (attempt > 50 || !String((err as Error).message).includes('being accessed')) throw err;
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
    }
  }
  await admin.end();
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const handle = connectDatabase(url, 5);
  return {
    ...handle,
    url,
    async drop() {
      await handle.close();
      const a = new pg.Client({ connectionString: ADMIN_URL });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}
