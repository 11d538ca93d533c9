import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** Browser tests: the real api, PostgreSQL, Dovecot, fake Telegram and Chromium (see harness.ts). */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  test: {
    include: ['**/*.e2e.ts'],
    globalSetup: ['../server/test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: one file at a time would waste the second, more would starve Chromium.
    maxWorkers: 2,
  },
});
