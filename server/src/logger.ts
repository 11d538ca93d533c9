import { destination, pino, type Logger } from 'pino';

export type { Logger };

/** The process-wide pino logger: JSON to stdout (or stderr, for CLI commands whose stdout is data), secrets redacted. */
export function createLogger(
  level: string,
  base: Record<string, unknown> = {},
  { stderr = false }: { stderr?: boolean } = {},
): Logger {
  return pino(
    {
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
    },
    stderr ? destination(2) : undefined,
  );
}
