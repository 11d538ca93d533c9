/**
 * Starts the whole system for a browser test: the real api (server/test/app.ts over a fresh
 * database cloned from the migrated template) listening on a free loopback port and serving the
 * built SPA (web/dist), optionally the fake Telegram Bot API, and Debian's Chromium driven by
 * playwright-core.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createLogger } from '../server/src/logger.js';
import { supervisorToken } from '../server/src/http/access.js';
import { createProcessDriver } from '../server/src/runner/drivers/process.js';
import { createSupervisorApi, startSupervisor } from '../server/src/runner/supervisor.js';
import { startWorker, type WorkerHandle } from '../server/src/worker/service.js';
import { createTestApp, type TestApp } from '../server/test/app.js';
import { startDovecot, type DovecotOptions, type DovecotServer } from '../server/test/dovecot.js';
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

/** An API answer >= 400 (or an uncaught page error, status 0) a page saw. */
export type ApiFailure = { status: number; method: string; path: string };
const apiFailures = new WeakMap<Page, ApiFailure[]>();

/**
 * What went wrong between this page and the API so far; a scenario ends with this empty (or
 * equal to the refusals it provoked), which catches field-name mismatches the screen hides.
 */
export function failuresOf(page: Page): ApiFailure[] {
  return apiFailures.get(page) ?? [];
}

export type System = {
  t: TestApp;
  baseUrl: string;
  telegram: FakeTelegram | undefined;
  dovecot: DovecotServer | undefined;
  /** The worker service (mailbox watchers), when started with `worker: true`. */
  worker: WorkerHandle | undefined;
  browser: Browser;
  /** A fresh browser profile (own localStorage) with a page at `baseUrl`. */
  newPage(opts?: { locale?: string; viewport?: { width: number; height: number } }): Promise<{
    context: BrowserContext;
    page: Page;
  }>;
  /** Screenshots of every open page into the artifacts (on a failure). */
  capture(name: string): Promise<void>;
  /** Closes the browser profiles opened so far (each test starts with none). */
  closePages(): Promise<void>;
  close(): Promise<void>;
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startSystem(
  opts: {
    telegram?: boolean;
    dovecot?: DovecotOptions;
    worker?: boolean;
    /** The bots supervisor with a runner process per running bot (needs `telegram`). */
    bots?: boolean;
    env?: Record<string, string>;
  } = {},
): Promise<System> {
  if (!existsSync(`${webDist}/index.html`))
    throw new Error(`${webDist}/index.html is missing: run \`npm run build -w web\` first`);
  mkdirSync(artifactDir, { recursive: true });
  const telegram = opts.telegram ? await startFakeTelegram({ port: 0 }) : undefined;
  const dovecot = opts.dovecot ? await startDovecot(opts.dovecot) : undefined;
  // The port is chosen first so PUBLIC_URL (webhook URLs the SPA shows) points at this very api.
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const t = await createTestApp({
    WEB_DIST_DIR: webDist,
    PUBLIC_URL: baseUrl,
    INTERNAL_API_URL: baseUrl,
    MAIL_ALLOW_PRIVATE_HOSTS: 'true',
    ...(telegram ? { TELEGRAM_API_ROOT: telegram.apiRoot } : {}),
    ...opts.env,
  });
  await t.app.listen({ port, host: '127.0.0.1' });
  const worker = opts.worker
    ? startWorker({
        config: t.config,
        db: t.database.db,
        log: createLogger('silent'),
        secrets: t.deps.secrets,
        leaseMs: 3_000,
        scanMs: 300,
        backoff: { initialMs: 200, maxMs: 1_000 },
      })
    : undefined;
  const services: { stop(): Promise<void> }[] = [];
  if (opts.bots) {
    if (!telegram) throw new Error('bots: true needs telegram: true');
    const supervisor = startSupervisor({
      api: createSupervisorApi(baseUrl, supervisorToken(t.deps.secrets)),
      driver: createProcessDriver({ stopGraceMs: 3_000 }),
      log: createLogger('silent'),
      runnerEnv: {
        INTERNAL_API_URL: baseUrl,
        TELEGRAM_API_ROOT: telegram.apiRoot,
        LOG_LEVEL: 'error',
        RUNNER_HEARTBEAT_SECONDS: '0.5',
      },
      reconcileMs: 200,
      baseBackoffMs: 300,
    });
    await supervisor.ready;
    services.push(supervisor);
  }
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
  });
  const contexts: BrowserContext[] = [];
  return {
    t,
    baseUrl,
    telegram,
    dovecot,
    worker,
    browser,
    async newPage({ locale = 'en-US', viewport = { width: 1280, height: 800 } } = {}) {
      const context = await browser.newContext({
        baseURL: baseUrl,
        locale,
        viewport,
        reducedMotion: 'reduce',
      });
      // Generous: two cores shared by the api, PostgreSQL, Chromium and runner processes.
      context.setDefaultTimeout(20_000);
      contexts.push(context);
      const page = await context.newPage();
      const failures: ApiFailure[] = [];
      apiFailures.set(page, failures);
      page.on('response', (r) => {
        const url = new URL(r.url());
        if (url.pathname.startsWith('/api/') && r.status() >= 400)
          failures.push({ status: r.status(), method: r.request().method(), path: url.pathname });
      });
      page.on('pageerror', (e) =>
        failures.push({ status: 0, method: 'pageerror', path: e.message }),
      );
      return { context, page };
    },
    async capture(name) {
      const pages = contexts.flatMap((c) => c.pages());
      const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60);
      for (const [i, p] of pages.entries())
        await p
          .screenshot({ path: path.join(artifactDir, `FAILED-${slug}-${i}.png`) })
          .catch(() => {});
    },
    async closePages() {
      for (const c of contexts.splice(0)) await c.close().catch(() => {});
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close();
      for (const service of services) await service.stop();
      await worker?.stop();
      await t.close();
      await telegram?.close();
      await dovecot?.destroy();
    },
  };
}

/**
 * One system per test file: started before the first test, closed after the last; when a test
 * fails, every open page is photographed into test-results/e2e/FAILED-*.png.
 */
export function useSystem(opts: Parameters<typeof startSystem>[0] = {}): () => System {
  let sys: System | undefined;
  beforeAll(async () => {
    sys = await startSystem(opts);
  });
  afterAll(async () => {
    await sys?.close();
  });
  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') await sys?.capture(ctx.task.name);
    await sys?.closePages();
  });
  return () => {
    if (!sys) throw new Error('the system is not started (useSystem at the top of the file)');
    return sys;
  };
}
