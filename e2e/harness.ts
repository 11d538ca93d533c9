/**
 * Starts the whole system for a browser test: the real api (server/test/app.ts over a fresh
 * database cloned from the migrated template) listening on a free loopback port and serving the
 * built SPA (web/dist), optionally the fake Telegram Bot API, and Debian's Chromium driven by
 * playwright-core.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createTestApp, type TestApp } from '../server/test/app.js';
import { startFakeTelegram, type FakeTelegram } from '../server/test/fake-telegram/server.js';

export const webDist = fileURLToPath(new URL('../web/dist', import.meta.url));
export const screenshotDir = fileURLToPath(new URL('../docs/screenshots', import.meta.url));
/** Every page's screenshot as a test artifact (git-ignored). */
export const artifactDir = fileURLToPath(new URL('../test-results/e2e', import.meta.url));

/** Chromium's flags for this machine (../shared/docs/stack.md): no sandbox, GPU, or phoning home. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

export type System = {
  t: TestApp;
  baseUrl: string;
  telegram: FakeTelegram | undefined;
  browser: Browser;
  /** A fresh browser profile (own localStorage) with a page at `baseUrl`. */
  newPage(opts?: { locale?: string; viewport?: { width: number; height: number } }): Promise<{
    context: BrowserContext;
    page: Page;
  }>;
  close(): Promise<void>;
};

export async function startSystem(
  opts: { telegram?: boolean; env?: Record<string, string> } = {},
): Promise<System> {
  if (!existsSync(`${webDist}/index.html`))
    throw new Error(`${webDist}/index.html is missing: run \`npm run build -w web\` first`);
  mkdirSync(artifactDir, { recursive: true });
  const telegram = opts.telegram ? await startFakeTelegram({ port: 0 }) : undefined;
  const t = await createTestApp({
    WEB_DIST_DIR: webDist,
    MAIL_ALLOW_PRIVATE_HOSTS: 'true',
    ...(telegram ? { TELEGRAM_API_ROOT: telegram.apiRoot } : {}),
    ...opts.env,
  });
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const address = t.app.server.address();
  if (!address || typeof address === 'string') throw new Error('api did not listen on a port');
  const baseUrl = `http://127.0.0.1:${address.port}`;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  const contexts: BrowserContext[] = [];
  return {
    t,
    baseUrl,
    telegram,
    browser,
    async newPage({ locale = 'en-US', viewport = { width: 1280, height: 800 } } = {}) {
      const context = await browser.newContext({ baseURL: baseUrl, locale, viewport });
      context.setDefaultTimeout(10_000);
      contexts.push(context);
      const page = await context.newPage();
      return { context, page };
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
      await t.close();
      await telegram?.close();
    },
  };
}
