import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { access, orgOf } from '../../http/access.js';
import { numericId, isoDate, listOf, listQuery, orgParams } from '../../http/list.js';
import type { AppDeps } from '../../app.js';
import { auditRepository } from './repository.js';

const auditItem = z.object({
  id: numericId,
  actorType: z.string(),
  actorId: z.string().nullable(),
  actorLabel: z.string().nullable(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  before: z.unknown(),
  after: z.unknown(),
  ip: z.string().nullable(),
  createdAt: isoDate,
});

export const auditRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/orgs/:orgId/audit-log', {
      config: access.org('viewer'),
      schema: {
        tags: ['audit'],
        summary: 'Who changed what, when, from where',
        params: orgParams,
        querystring: listQuery.extend({
          action: z.string().optional(),
          targetType: z.string().optional(),
        }),
        response: { 200: listOf(auditItem) },
      },
      handler: async (request) =>
        auditRepository.list(deps.db, orgOf(request).orgId, request.query),
    });
  };
