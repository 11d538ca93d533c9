import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet from 'helmet';

const helmetOptions = {
  contentSecurityPolicy: {
    directives: {
      defaultSrc: ["'self'"],
      imgSrc: ["'self'", 'data:', 'https:'],
      styleSrc: ["'self'", "'unsafe-inline'"],
      scriptSrc: ["'self'"],
      connectSrc: ["'self'"],
    },
  },
};

/** The headers helmet sets with these options: they are the same for every request (no nonces). */
export function helmetHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: unknown) => void (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => void delete headers[name.toLowerCase()],
  };
  let applied = false;
  helmet(helmetOptions)({} as IncomingMessage, response as unknown as ServerResponse, (err) => {
    if (err) throw err;
    applied = true;
  });
  if (!applied) throw new Error('helmet did not apply its headers synchronously');
  return headers;
}

/**
 * Helmet's security headers (CSP for the web app, HSTS, nosniff, frame and referrer policies…)
 * on every response. They are computed once: @fastify/helmet builds helmet's middleware anew
 * for every request (parsing the CSP directives each time), which cost ~14 % of the CPU of a
 * POST …/notifications under load, and setting them through helmet per request ~4 % more.
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  const headers = helmetHeaders();
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
}
