import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { buildApp } from './app.js';
import { loadConfig, type Config } from './config.js';
import { resolveSecretKey } from './crypto/secrets.js';
import { connectDatabase, type DatabaseHandle } from './db/client.js';
import { startEmbeddedPostgres } from './db/embedded.js';
import { runMigrations } from './db/migrate.js';
import { createLogger, type Logger } from './logger.js';
import { createAuthService } from './modules/auth/service.js';
import { exportOrganization, importOrganization } from './modules/transfer/service.js';
import { AppError } from './errors.js';
import { SecretBox } from './crypto/secrets.js';
import { startHousekeeping } from './worker/housekeeping.js';
import { startWorker } from './worker/service.js';
import { supervisorToken } from './http/access.js';
import { createDockerDriver } from './runner/drivers/docker.js';
import { createProcessDriver } from './runner/drivers/process.js';
import { createSupervisorApi, startSupervisor } from './runner/supervisor.js';

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
  { embeddedAllowed, logToStderr = false }: { embeddedAllowed: boolean; logToStderr?: boolean },
): Promise<Runtime> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, { role: service }, { stderr: logToStderr });
  if (!config.databaseUrl && !embeddedAllowed)
    throw new Error(
      'Invalid configuration:\n  DATABASE_URL: required for this command (the embedded database runs only with `notifypro start`)',
    );
  // Only the all-in-one command (and the one-off ones beside it) may generate the key.
  const secretKey = resolveSecretKey(config.secretKey, config.dataDir, {
    generate: embeddedAllowed,
  });
  let url = config.databaseUrl;
  let stopEmbedded: (() => Promise<void>) | null = null;
  if (!url) {
    const embedded = await startEmbeddedPostgres(config.dataDir, log);
    url = embedded.url;
    stopEmbedded = embedded.stop;
  }
  const database = connectDatabase(url);
  await runMigrations(database.db);
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

type Service = { name: string; stop(): Promise<void> };

async function startApiService(rt: Runtime): Promise<Service> {
  const { app } = await buildApp({
    config: rt.config,
    db: rt.database.db,
    secretKey: rt.secretKey,
    log: rt.log,
  });
  await app.listen({ port: rt.config.port, host: rt.config.host });
  return { name: 'api', stop: () => app.close() };
}

/** The mail watchers (on stop they leave their leases to other replicas) and the housekeeping. */
function startWorkerService(rt: Runtime): Service {
  const worker = startWorker({
    config: rt.config,
    db: rt.database.db,
    log: rt.log,
    secrets: new SecretBox(rt.secretKey),
  });
  const housekeeping = startHousekeeping({ config: rt.config, db: rt.database.db, log: rt.log });
  return {
    name: 'worker',
    async stop() {
      await housekeeping.stop();
      await worker.stop();
    },
  };
}

/** BOT_RUNNER=docker without a reachable engine is a configuration error: say so at start. */
async function assertDockerReachable(socketPath: string): Promise<void> {
  const { default: Docker } = await import('dockerode');
  try {
    await new Docker({ socketPath }).ping();
  } catch (err) {
    throw new Error(
      `Invalid configuration:\n  DOCKER_SOCKET: BOT_RUNNER=docker, but no Docker engine answers at ${socketPath} (${(err as Error).message}); mount the engine's socket there or set DOCKER_SOCKET`,
    );
  }
}

/** The bots supervisor: one runner per enabled bot, through the api's internal API only. */
function startBotsService(config: Config, log: Logger, secretKey: string): Service {
  const driver =
    config.botRunner === 'docker'
      ? createDockerDriver({
          socketPath: config.dockerSocket,
          image: config.runnerImage,
          network: config.runnerDockerNetwork,
        })
      : createProcessDriver();
  const supervisor = startSupervisor({
    api: createSupervisorApi(config.internalApiUrl, supervisorToken(new SecretBox(secretKey))),
    driver,
    log: log.child({ component: 'supervisor' }),
    staleMs: config.runnerStaleSeconds * 1000,
    runnerEnv: {
      INTERNAL_API_URL: config.internalApiUrl,
      TELEGRAM_API_ROOT: config.telegramApiRoot,
      LOG_LEVEL: config.logLevel,
      RUNNER_HEARTBEAT_SECONDS: String(config.runnerHeartbeatSeconds),
    },
  });
  return { name: 'bots', stop: () => supervisor.stop() };
}

/** Runs services until SIGINT/SIGTERM, then stops them in reverse order, then the runtime. */
async function serve(
  log: Logger,
  starters: Array<() => Service | Promise<Service>>,
  stopRuntime: () => Promise<void>,
): Promise<void> {
  const services: Service[] = [];
  try {
    for (const start of starters) services.push(await start());
  } catch (err) {
    // Never leave the embedded PostgreSQL (or half the services) running behind a failed start.
    for (const s of services.reverse()) await s.stop().catch(() => {});
    await stopRuntime();
    throw err;
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    for (const s of [...services].reverse())
      await s.stop().catch((err) => log.error({ err, service: s.name }, 'error while stopping'));
    await stopRuntime();
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
  .action(async () => {
    const rt = await openRuntime('start', { embeddedAllowed: true });
    await serve(
      rt.log,
      [
        () => startApiService(rt),
        () => startWorkerService(rt),
        () => startBotsService(rt.config, rt.log, rt.secretKey),
      ],
      rt.stop,
    );
  });

program
  .command('api')
  .description('run the api service (REST API, SPA, Telegram webhook ingress)')
  .action(async () => {
    const rt = await openRuntime('api', { embeddedAllowed: false });
    await serve(rt.log, [() => startApiService(rt)], rt.stop);
  });

program
  .command('worker')
  .description(
    'run the worker service (mailbox watchers: IMAP IDLE, POP3 polling; housekeeping: alerts, retention)',
  )
  .action(async () => {
    const rt = await openRuntime('worker', { embeddedAllowed: false });
    await serve(rt.log, [() => startWorkerService(rt)], rt.stop);
  });

program
  .command('bots')
  .description('run the bots supervisor (one isolated runner per enabled bot; no database access)')
  .action(async () => {
    const config = loadConfig();
    const log = createLogger(config.logLevel, { role: 'bots' });
    const secretKey = resolveSecretKey(config.secretKey, config.dataDir, { generate: false });
    if (config.botRunner === 'docker') await assertDockerReachable(config.dockerSocket);
    await serve(log, [() => startBotsService(config, log, secretKey)], async () => {});
  });

program
  .command('runner')
  .description(
    "run one bot's runner (started by the bots service; INTERNAL_API_URL, NOTIFYPRO_RUNNER_TOKEN)",
  )
  .action(async () => {
    const { runRunnerProcess } = await import('./runner/entry.js');
    await runRunnerProcess();
  });

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

/** A passphrase from a file (first line; `-` reads stdin), so it never shows in `ps` or history. */
function readPassphrase(file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  return readFileSync(file === '-' ? 0 : file, 'utf8').split(/\r?\n/)[0]!;
}

const cliActor = { type: 'system' as const, id: null, label: 'notifypro CLI', ip: null };

program
  .command('export')
  .description(
    "write an organization's configuration as JSON to stdout (secrets only with --passphrase-file, sealed with it)",
  )
  .requiredOption('--org <id>', 'the organization id')
  .option(
    '--passphrase-file <file>',
    'seal bot tokens, mailbox passwords and webhook secrets with this passphrase',
  )
  .action(async (opts: { org: string; passphraseFile?: string }) => {
    const passphrase = readPassphrase(opts.passphraseFile);
    const rt = await openRuntime('export', { embeddedAllowed: true, logToStderr: true });
    try {
      const doc = await exportOrganization(
        { db: rt.database.db, secrets: new SecretBox(rt.secretKey) },
        opts.org,
        { passphrase },
      );
      process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    } finally {
      await rt.stop();
    }
  });

program
  .command('import')
  .description(
    'import an export document into an organization (`--org new` makes one); importing again changes nothing',
  )
  .argument('<file>', 'the export document (`-` reads stdin)')
  .requiredOption('--org <id|new>', 'the organization id, or `new`')
  .option('--passphrase-file <file>', 'the passphrase the secrets were sealed with')
  .action(async (file: string, opts: { org: string; passphraseFile?: string }) => {
    let document: unknown;
    try {
      document = JSON.parse(readFileSync(file === '-' ? 0 : file, 'utf8'));
    } catch (err) {
      throw new Error(`${file} is not a JSON document: ${(err as Error).message}`);
    }
    const passphrase = readPassphrase(opts.passphraseFile);
    const rt = await openRuntime('import', { embeddedAllowed: true, logToStderr: true });
    try {
      const result = await importOrganization(
        {
          db: rt.database.db,
          secrets: new SecretBox(rt.secretKey),
          config: rt.config,
          log: rt.log,
        },
        opts.org === 'new' ? { newOrg: {} } : { orgId: opts.org },
        document,
        { passphrase, actor: cliActor },
      );
      for (const w of result.warnings) console.error(`warning: ${w}`);
      for (const p of result.temporaryPasswords)
        console.error(`new account ${p.email}: temporary password ${p.password}`);
      process.stdout.write(
        `${JSON.stringify({ orgId: result.orgId, summary: result.summary }, null, 2)}\n`,
      );
    } catch (err) {
      // A problem's field errors are the useful part of a refused document.
      if (err instanceof AppError && err.details.errors)
        for (const e of err.details.errors) console.error(`  ${e.path}: ${e.message}`);
      throw err;
    } finally {
      await rt.stop();
    }
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
