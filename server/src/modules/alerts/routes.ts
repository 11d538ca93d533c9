import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { alertKinds } from '../../db/schema.js';
import { access, orgOf } from '../../http/access.js';
import { isoDate, listOf, listQuery, nullableIsoDate, orgParams } from '../../http/list.js';
import { alertRepository } from './repository.js';

const alertItem = z.object({
  id: z.string(),
  kind: z.enum(alertKinds),
  subjectId: z.string(),
  subjectName: z.string().nullable(),
  detail: z.string().nullable(),
  openedAt: isoDate,
  firedAt: nullableIsoDate,
  lastNotifiedAt: nullableIsoDate,
  resolvedAt: nullableIsoDate,
});

export const alertRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/orgs/:orgId/alerts', {
      config: access.org('viewer'),
      schema: {
        tags: ['alerts'],
        summary:
          'Alerts: a bot, a mailbox or deliveries failing longer than the threshold (open by default)',
        params: orgParams,
        querystring: listQuery.extend({
          status: z.enum(['open', 'resolved']).default('open'),
        }),
        response: { 200: listOf(alertItem) },
      },
      handler: async (request) =>
        alertRepository.list(deps.db, orgOf(request).orgId, request.query),
    });
  };
