import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { AppError } from '../../errors.js';
import { access, orgOf } from '../../http/access.js';
import { orgParams } from '../../http/list.js';
import { statsRepository } from './repository.js';

const MAX_DAYS = 366;
const count = z.number().int();
const statsResponse = z.object({
  from: z.string(),
  to: z.string(),
  perDay: z.array(
    z.object({
      date: z.string(),
      events: count,
      mail: count,
      webhook: count,
      api: count,
      sent: count,
      failed: count,
      dead: count,
      queued: count,
    }),
  ),
  events: z.object({
    total: count,
    bySource: z.object({ mail: count, webhook: count, api: count }),
  }),
  deliveries: z.object({
    sent: count,
    failed: count,
    dead: count,
    queued: count,
    /** sent / (sent + failed + dead); null when nothing finished. */
    successRate: z.number().nullable(),
    latencyMs: z.object({ p50: z.number().nullable(), p95: z.number().nullable() }),
  }),
});

export const statsRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/orgs/:orgId/stats', {
      config: access.org('viewer'),
      schema: {
        tags: ['stats'],
        summary:
          'Counts per UTC day and source, delivery success rate, latency percentiles (default: the last 14 days)',
        params: orgParams,
        querystring: z.object({
          from: z.iso.datetime({ offset: true }).optional(),
          to: z.iso.datetime({ offset: true }).optional(),
        }),
        response: { 200: statsResponse },
      },
      handler: async (request) => {
        const { orgId } = orgOf(request);
        const to = request.query.to ? new Date(request.query.to) : new Date();
        const from = request.query.from
          ? new Date(request.query.from)
          : new Date(to.getTime() - 13 * 86_400_000);
        if (from > to) throw new AppError('bad_request', '`from` is after `to`');
        if (to.getTime() - from.getTime() > MAX_DAYS * 86_400_000)
          throw new AppError('bad_request', `At most ${MAX_DAYS} days at once`);
        const [perDay, latencyMs] = await Promise.all([
          statsRepository.perDay(deps.db, orgId, from, to),
          statsRepository.latency(deps.db, orgId, from, to),
        ]);
        const sum = (k: keyof (typeof perDay)[number]) =>
          perDay.reduce((s, d) => s + Number(d[k]), 0);
        const finished = sum('sent') + sum('failed') + sum('dead');
        return {
          from: from.toISOString(),
          to: to.toISOString(),
          perDay,
          events: {
            total: sum('events'),
            bySource: { mail: sum('mail'), webhook: sum('webhook'), api: sum('api') },
          },
          deliveries: {
            sent: sum('sent'),
            failed: sum('failed'),
            dead: sum('dead'),
            queued: sum('queued'),
            successRate: finished > 0 ? sum('sent') / finished : null,
            latencyMs,
          },
        };
      },
    });
  };
