import { and, count, desc, eq, ilike, or, type SQL } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { deliveries, events, notifications } from '../../db/schema.js';
import { notFound } from '../../errors.js';
import { access, orgOf } from '../../http/access.js';
import { isoDate, orgParams } from '../../http/list.js';

const event = z.object({
  id: z.string(),
  source: z.enum(['mail', 'webhook', 'api']),
  mailboxId: z.string().nullable(),
  webhookId: z.string().nullable(),
  messageId: z.string().nullable(),
  subject: z.string().nullable(),
  sender: z.string().nullable(),
  error: z.string().nullable(),
  matchedRuleIds: z.array(z.string()),
  receivedAt: isoDate,
});
const columns = {
  id: events.id,
  source: events.source,
  mailboxId: events.mailboxId,
  webhookId: events.webhookId,
  messageId: events.messageId,
  subject: events.subject,
  sender: events.sender,
  error: events.error,
  matchedRuleIds: events.matchedRuleIds,
  receivedAt: events.receivedAt,
};

export const eventRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { db } = deps;

    app.get('/orgs/:orgId/events', {
      config: access.org('viewer'),
      schema: {
        tags: ['events'],
        params: orgParams,
        querystring: z.object({
          source: z.enum(['mail', 'webhook', 'api']).optional(),
          mailboxId: z.string().uuid().optional(),
          webhookId: z.string().uuid().optional(),
          q: z.string().max(200).optional(),
          offset: z.coerce.number().int().min(0).default(0),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
        response: { 200: z.object({ items: z.array(event), total: z.number() }) },
      },
      handler: async (request) => {
        const q = request.query;
        const where: SQL[] = [eq(events.orgId, orgOf(request).orgId)];
        if (q.source) where.push(eq(events.source, q.source));
        if (q.mailboxId) where.push(eq(events.mailboxId, q.mailboxId));
        if (q.webhookId) where.push(eq(events.webhookId, q.webhookId));
        if (q.q) {
          const like = `%${q.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
          where.push(or(ilike(events.subject, like), ilike(events.sender, like))!);
        }
        const items = await db
          .select(columns)
          .from(events)
          .where(and(...where))
          .orderBy(desc(events.receivedAt), desc(events.id))
          .offset(q.offset)
          .limit(q.limit);
        const [total] = await db
          .select({ n: count() })
          .from(events)
          .where(and(...where));
        return { items, total: total!.n };
      },
    });

    app.get('/orgs/:orgId/events/:eventId', {
      config: access.org('viewer'),
      schema: {
        tags: ['events'],
        params: orgParams.extend({ eventId: z.string().uuid() }),
        response: {
          200: event.extend({
            payload: z.record(z.string(), z.unknown()),
            /** Where it went: the deliveries of the notifications its rules made. */
            deliveries: z.array(
              z.object({
                id: z.string(),
                notificationId: z.string(),
                ruleId: z.string().nullable(),
                chatId: z.string(),
                botId: z.string().nullable(),
                status: z.string(),
              }),
            ),
          }),
        },
      },
      handler: async (request) => {
        const [row] = await db
          .select({ ...columns, payload: events.payload })
          .from(events)
          .where(
            and(eq(events.orgId, orgOf(request).orgId), eq(events.id, request.params.eventId)),
          );
        if (!row) throw notFound('Event');
        const went = await db
          .select({
            id: deliveries.id,
            notificationId: deliveries.notificationId,
            ruleId: notifications.ruleId,
            chatId: deliveries.chatId,
            botId: deliveries.botId,
            status: deliveries.status,
          })
          .from(deliveries)
          .innerJoin(notifications, eq(notifications.id, deliveries.notificationId))
          .where(
            and(eq(notifications.orgId, orgOf(request).orgId), eq(notifications.eventId, row.id)),
          )
          .orderBy(deliveries.seq);
        return { ...row, deliveries: went };
      },
    });
  };
