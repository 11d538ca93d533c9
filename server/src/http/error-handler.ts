import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError, type FieldError } from '../errors.js';

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export function problem(status: number, detail: string, extra: Record<string, unknown> = {}) {
  return { type: 'about:blank', status, title: titles[status] ?? 'Error', detail, ...extra };
}

/**
 * The one place where errors become RFC 9457 problem+json; 5xx internals are hidden (the
 * pino log has them; `onInternalError` may record that one happened, e.g. in the event log).
 */
export function registerErrorHandler(
  app: FastifyInstance,
  options: { onInternalError?: (error: Error, request: FastifyRequest) => void } = {},
): void {
  app.setErrorHandler((error: FastifyError | AppError | Error, request, reply) => {
    reply.type('application/problem+json');
    if (error instanceof AppError) {
      if (error.details.retryAfterSeconds !== undefined) {
        reply.header('retry-after', String(error.details.retryAfterSeconds));
      }
      const extra = error.details.errors ? { errors: error.details.errors } : {};
      return reply.status(error.status).send(problem(error.status, error.message, extra));
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const errors: FieldError[] = error.validation.map((v) => ({
        path: [error.validationContext, ...String(v.instancePath).split('/').filter(Boolean)].join(
          '.',
        ),
        message: v.message ?? 'is invalid',
      }));
      return reply.status(400).send(problem(400, 'The request is invalid', { errors }));
    }
    const status = (error as FastifyError).statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
      options.onInternalError?.(error, request);
      return reply.status(status).send(problem(status, 'Something went wrong on our side'));
    }
    if (status === 429) {
      return reply.status(429).send(problem(429, error.message));
    }
    return reply.status(status).send(problem(status, error.message));
  });
}
