import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { access, orgOf } from '../../http/access.js';
import { numericId, isoDate, listOf, listQuery, orgParams } from '../../http/list.js';
import { logRepository } from './repository.js';

export const logItem = z.object({
  id: numericId,
  orgId: z.string().nullable(),
  level: z.string(),
  source: z.string(),
  message: z.string(),
  context: z.record(z.string(), z.unknown()),
  createdAt: isoDate,
});
export const logQuery = listQuery.extend({
  level: z.enum(['debug', 'info', 'warn', 'error']).optional(),
  source: z.string().max(64).optional(),
});

export const logRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/orgs/:orgId/logs', {
      config: access.org('viewer'),
      schema: {
        tags: ['logs'],
        summary: "The organization's event and error log",
        params: orgParams,
        querystring: logQuery,
        response: { 200: listOf(logItem) },
      },
      handler: async (request) => logRepository.list(deps.db, orgOf(request).orgId, request.query),
    });
  };
