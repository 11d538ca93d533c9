import { pino, type Logger } from 'pino';

export type { Logger };

/** The process-wide pino logger: JSON to stdout, secrets redacted. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'notifypro', ...base },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["x-telegram-bot-api-secret-token"]',
        '*.password',
        '*.token',
      ],
      censor: '[redacted]',
    },
  });
}
