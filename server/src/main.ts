import { Command } from 'commander';
import { buildApp } from './app.js';
import { loadConfig, type Config } from './config.js';
import { resolveSecretKey } from './crypto/secrets.js';
import { connectDatabase, type DatabaseHandle } from './db/client.js';
import { startEmbeddedPostgres } from './db/embedded.js';
import { runMigrations } from './db/migrate.js';
import { createLogger, type Logger } from './logger.js';
import { createAuthService } from './modules/auth/service.js';
import { SecretBox } from './crypto/secrets.js';
import { startWorker } from './worker/service.js';

type Runtime = {
  config: Config;
  log: Logger;
  database: DatabaseHandle;
  secretKey: string;
  stop(): Promise<void>;
};

/** Connects to DATABASE_URL, or boots the embedded PostgreSQL in DATA_DIR, then migrates. */
async function openRuntime(
  service: string,
  { embeddedAllowed }: { embeddedAllowed: boolean },
): Promise<Runtime> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, { role: service });
  let url = config.databaseUrl;
  let stopEmbedded: (() => Promise<void>) | null = null;
  if (!url) {
    if (!embeddedAllowed)
      throw new Error(
        'DATABASE_URL is required for this command (the embedded database runs only with `notifypro start`)',
      );
    const embedded = await startEmbeddedPostgres(config.dataDir, log);
    url = embedded.url;
    stopEmbedded = embedded.stop;
  }
  const database = connectDatabase(url);
  await runMigrations(database.db);
  const secretKey = resolveSecretKey(config.secretKey, config.dataDir);
  return {
    config,
    log,
    database,
    secretKey,
    async stop() {
      await database.close().catch(() => {});
      if (stopEmbedded)
        await stopEmbedded().catch((err) =>
          log.warn({ err }, 'embedded PostgreSQL did not stop cleanly'),
        );
    },
  };
}

async function serveApi(rt: Runtime): Promise<void> {
  let app: Awaited<ReturnType<typeof buildApp>>['app'];
  try {
    ({ app } = await buildApp({
      config: rt.config,
      db: rt.database.db,
      secretKey: rt.secretKey,
      log: rt.log,
    }));
    await app.listen({ port: rt.config.port, host: rt.config.host });
  } catch (err) {
    // Never leave the embedded PostgreSQL running behind a failed start.
    await rt.stop();
    throw err;
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    rt.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await app.close().catch((err) => rt.log.error({ err }, 'error while closing the api'));
    await rt.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

/** The mail watchers; leaves the leases to other replicas on SIGINT/SIGTERM. */
async function serveWorker(rt: Runtime): Promise<void> {
  const worker = startWorker({
    config: rt.config,
    db: rt.database.db,
    log: rt.log,
    secrets: new SecretBox(rt.secretKey),
  });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    rt.log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await worker.stop().catch((err) => rt.log.error({ err }, 'error while stopping the worker'));
    await rt.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

const program = new Command('notifypro').description(
  'NotifyPro: e-mail, webhooks and API calls to Telegram',
);

program
  .command('start')
  .description(
    'run everything in one process group (embedded PostgreSQL when DATABASE_URL is unset)',
  )
  .action(async () => serveApi(await openRuntime('start', { embeddedAllowed: true })));

program
  .command('api')
  .description('run the api service (REST API, SPA, Telegram webhook ingress)')
  .action(async () => serveApi(await openRuntime('api', { embeddedAllowed: false })));

program
  .command('worker')
  .description('run the worker service (mailbox watchers: IMAP IDLE, POP3 polling)')
  .action(async () => serveWorker(await openRuntime('worker', { embeddedAllowed: false })));

program
  .command('migrate')
  .description('apply database migrations and exit')
  .action(async () => {
    const rt = await openRuntime('migrate', { embeddedAllowed: true });
    rt.log.info('migrations applied');
    await rt.stop();
  });

program
  .command('create-admin')
  .description("create (or promote) the installation's superadmin")
  .requiredOption('--email <email>')
  .requiredOption('--password <password>')
  .option('--name <name>', 'display name', 'Administrator')
  .action(async (opts: { email: string; password: string; name: string }) => {
    const rt = await openRuntime('create-admin', { embeddedAllowed: true });
    const auth = createAuthService({
      config: rt.config,
      db: rt.database.db,
      log: rt.log,
      secrets: new SecretBox(rt.secretKey),
      services: undefined as never,
    });
    const user = await auth.createAdmin({
      email: opts.email.toLowerCase(),
      password: opts.password,
      name: opts.name,
    });
    console.log(`superadmin ready: ${user.email} (${user.id})`);
    await rt.stop();
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
