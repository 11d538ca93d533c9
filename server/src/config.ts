import { z } from 'zod';

const booleanFromEnv = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const envSchema = z.object({
  DATABASE_URL: z.string().url().optional(),
  DATA_DIR: z.string().default('./data'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('127.0.0.1'),
  PUBLIC_URL: z.string().url().default('http://localhost:3000'),
  TELEGRAM_API_ROOT: z.string().url().default('https://api.telegram.org'),
  SECRET_KEY: z.string().min(32).optional(),
  BOT_RUNNER: z.enum(['process', 'docker']).default('process'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ALLOW_SIGNUP: booleanFromEnv.default(true),
  SESSION_TTL_HOURS: z.coerce
    .number()
    .positive()
    .default(24 * 14),
  BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  LOGIN_MAX_PER_IP_PER_MINUTE: z.coerce.number().int().positive().default(20),
  LOGIN_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().positive().default(5),
  LOGIN_LOCKOUT_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(15 * 60),
  MAIL_ALLOW_PRIVATE_HOSTS: booleanFromEnv.default(false),
  WEB_DIST_DIR: z.string().optional(),
  METRICS_TOKEN: z.string().optional(),
  INTERNAL_API_URL: z.string().url().optional(),
  RUNNER_HEARTBEAT_SECONDS: z.coerce.number().positive().default(5),
  RUNNER_STALE_SECONDS: z.coerce.number().positive().default(30),
  RUNNER_IMAGE: z.string().default('notifypro:latest'),
  RUNNER_DOCKER_NETWORK: z.string().default('host'),
  DOCKER_SOCKET: z.string().default('/var/run/docker.sock'),
  WORKER_LEASE_SECONDS: z.coerce.number().positive().default(30),
  HOUSEKEEPING_INTERVAL_SECONDS: z.coerce.number().positive().default(60),
  // retention in days, 0 = keep forever
  RAW_MAIL_RETENTION_DAYS: z.coerce.number().min(0).default(30),
  EVENT_RETENTION_DAYS: z.coerce.number().min(0).default(90),
  DELIVERY_RETENTION_DAYS: z.coerce.number().min(0).default(90),
  NOTIFICATION_RETENTION_DAYS: z.coerce.number().min(0).default(90),
  LOG_RETENTION_DAYS: z.coerce.number().min(0).default(30),
  TELEGRAM_UPDATE_RETENTION_DAYS: z.coerce.number().min(0).default(7),
  AUDIT_LOG_RETENTION_DAYS: z.coerce.number().min(0).default(0),
  ALERT_RETENTION_DAYS: z.coerce.number().min(0).default(90),
  RETENTION_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(5_000),
  TELEGRAM_UPLOAD_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(50 * 1024 * 1024),
  NOTIFICATIONS_BATCH_MAX: z.coerce.number().int().min(1).max(5_000).default(500),
  NOTIFICATIONS_BATCH_WINDOW_MS: z.coerce.number().min(0).max(1_000).default(0),
  DELIVERY_LEASE_SECONDS: z.coerce.number().positive().max(3_600).default(60),
});

/** The typed configuration, read once from the environment in main.ts and passed in. */
export type Config = {
  databaseUrl: string | undefined;
  dataDir: string;
  port: number;
  host: string;
  publicUrl: string;
  telegramApiRoot: string;
  secretKey: string | undefined;
  botRunner: 'process' | 'docker';
  logLevel: z.infer<typeof envSchema>['LOG_LEVEL'];
  allowSignup: boolean;
  sessionTtlHours: number;
  bodyLimitBytes: number;
  loginMaxPerIpPerMinute: number;
  loginMaxFailuresPerAccount: number;
  loginLockoutSeconds: number;
  mailAllowPrivateHosts: boolean;
  webDistDir: string | undefined;
  /** When set, GET /metrics requires `Authorization: Bearer <token>`. */
  metricsToken: string | undefined;
  /** Where the bots supervisor and the runners reach the api's /internal/v1 (default: this api's port on loopback). */
  internalApiUrl: string;
  runnerHeartbeatSeconds: number;
  /** A runner silent this long is restarted by the supervisor. */
  runnerStaleSeconds: number;
  /** docker driver: the image each runner container runs, its network, the engine socket. */
  runnerImage: string;
  runnerDockerNetwork: string;
  dockerSocket: string;
  /** How long a worker replica's claim on a mailbox lasts unrenewed (a dead replica's are taken over after it). */
  workerLeaseSeconds: number;
  /** How often the worker's housekeeping (alerts, retention) runs; one replica at a time. */
  housekeepingIntervalSeconds: number;
  /**
   * Days to keep, 0 = forever: raw mail (events.raw, the event stays), events, finished
   * deliveries, notifications (with their files), logs, processed Telegram updates, the audit
   * log, resolved alerts. Deleted `retentionBatchSize` rows per statement.
   */
  retention: {
    rawMailDays: number;
    eventDays: number;
    deliveryDays: number;
    notificationDays: number;
    logDays: number;
    telegramUpdateDays: number;
    auditLogDays: number;
    alertDays: number;
    batchSize: number;
  };
  /** Largest file a bot may upload (50 MB on Telegram; a local Bot API server allows more). Bigger ones are sent as a note. */
  telegramUploadLimitBytes: number;
  /**
   * Group commit of POST …/notifications: at most this many requests share one transaction
   * (1: a transaction per request), the first waiting up to the window for company (0: only
   * those that arrived while the previous commit was in flight).
   */
  notificationsBatchMax: number;
  notificationsBatchWindowMs: number;
  /** How long a claimed delivery stays its runner's; after it (the runner died mid-send) another may claim it. */
  deliveryLeaseSeconds: number;
};

/** Parses and validates the environment; throws with every offending variable named. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    port: e.PORT,
    host: e.HOST,
    publicUrl: e.PUBLIC_URL.replace(/\/$/, ''),
    telegramApiRoot: e.TELEGRAM_API_ROOT.replace(/\/$/, ''),
    secretKey: e.SECRET_KEY,
    botRunner: e.BOT_RUNNER,
    logLevel: e.LOG_LEVEL,
    allowSignup: e.ALLOW_SIGNUP,
    sessionTtlHours: e.SESSION_TTL_HOURS,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    loginMaxPerIpPerMinute: e.LOGIN_MAX_PER_IP_PER_MINUTE,
    loginMaxFailuresPerAccount: e.LOGIN_MAX_FAILURES_PER_ACCOUNT,
    loginLockoutSeconds: e.LOGIN_LOCKOUT_SECONDS,
    mailAllowPrivateHosts: e.MAIL_ALLOW_PRIVATE_HOSTS,
    webDistDir: e.WEB_DIST_DIR,
    metricsToken: e.METRICS_TOKEN,
    internalApiUrl: (e.INTERNAL_API_URL ?? `http://127.0.0.1:${e.PORT}`).replace(/\/$/, ''),
    runnerHeartbeatSeconds: e.RUNNER_HEARTBEAT_SECONDS,
    runnerStaleSeconds: e.RUNNER_STALE_SECONDS,
    runnerImage: e.RUNNER_IMAGE,
    runnerDockerNetwork: e.RUNNER_DOCKER_NETWORK,
    dockerSocket: e.DOCKER_SOCKET,
    workerLeaseSeconds: e.WORKER_LEASE_SECONDS,
    housekeepingIntervalSeconds: e.HOUSEKEEPING_INTERVAL_SECONDS,
    retention: {
      rawMailDays: e.RAW_MAIL_RETENTION_DAYS,
      eventDays: e.EVENT_RETENTION_DAYS,
      deliveryDays: e.DELIVERY_RETENTION_DAYS,
      notificationDays: e.NOTIFICATION_RETENTION_DAYS,
      logDays: e.LOG_RETENTION_DAYS,
      telegramUpdateDays: e.TELEGRAM_UPDATE_RETENTION_DAYS,
      auditLogDays: e.AUDIT_LOG_RETENTION_DAYS,
      alertDays: e.ALERT_RETENTION_DAYS,
      batchSize: e.RETENTION_BATCH_SIZE,
    },
    telegramUploadLimitBytes: e.TELEGRAM_UPLOAD_LIMIT_BYTES,
    notificationsBatchMax: e.NOTIFICATIONS_BATCH_MAX,
    notificationsBatchWindowMs: e.NOTIFICATIONS_BATCH_WINDOW_MS,
    deliveryLeaseSeconds: e.DELIVERY_LEASE_SECONDS,
  };
}
