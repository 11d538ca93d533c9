import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { access } from '../../http/access.js';
import { isoDate, listOf } from '../../http/list.js';
import { logItem, logQuery } from '../logs/routes.js';
import { logRepository } from '../logs/repository.js';
import { orgRepository } from '../orgs/repository.js';

/** Installation-wide views for the superadmin; everyone else gets 404. */
export const adminRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/admin/orgs', {
      config: access.superadmin,
      schema: {
        tags: ['admin'],
        summary: 'Every organization with member, bot and mailbox counts',
        querystring: z.object({ q: z.string().max(200).optional() }),
        response: {
          200: listOf(
            z.object({
              id: z.string(),
              name: z.string(),
              createdAt: isoDate,
              members: z.number(),
              bots: z.number(),
              mailboxes: z.number(),
            }),
          ),
        },
      },
      handler: async (request) => {
        const items = await orgRepository.listAll(deps.db, request.query.q);
        return { items, total: items.length };
      },
    });

    app.get('/admin/logs', {
      config: access.superadmin,
      schema: {
        tags: ['admin'],
        summary: 'The system log across organizations',
        querystring: logQuery,
        response: { 200: listOf(logItem) },
      },
      handler: async (request) => logRepository.list(deps.db, null, request.query),
    });
  };
