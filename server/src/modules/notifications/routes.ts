import { and, count, desc, eq, inArray } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { deliveries, deliveryStatuses, notifications } from '../../db/schema.js';
import { AppError, notFound } from '../../errors.js';
import { access, orgOf } from '../../http/access.js';
import { isoDate, listQuery, orgParams } from '../../http/list.js';
import { createNotificationBatcher } from './batcher.js';
import { enqueueNotification, type EnqueueInput } from './service.js';

// PostgreSQL text cannot hold NUL: refused here with a 400 rather than failing the write.
const noNul = (s: string) => !s.includes('\u0000');
const body = z.object({
  text: z.string().min(1).max(100_000),
  chatIds: z.array(z.string().uuid()).min(1).max(100),
  botId: z.string().uuid().optional(),
  format: z.enum(['text', 'html', 'markdown']).default('text'),
  idempotencyKey: z.string().min(1).max(200).refine(noNul, 'No NUL characters').optional(),
  silent: z.boolean().optional(),
  disableLinkPreview: z.boolean().optional(),
  /** Files sent with the text (base64 in the JSON body; images go as photos, others as documents). */
  attachments: z
    .array(
      z.object({
        filename: z.string().min(1).max(255).refine(noNul, 'No NUL characters'),
        contentType: z
          .string()
          .max(255)
          .regex(/^[\w.+-]+\/[\w.+-]+$/)
          .optional(),
        content: z.base64(),
      }),
    )
    .max(10)
    .optional(),
});
const deliveryShort = z.object({
  id: z.string(),
  chatId: z.string(),
  botId: z.string().nullable(),
  status: z.string(),
});
const delivery = deliveryShort.extend({
  notificationId: z.string(),
  attempts: z.number(),
  lastError: z.string().nullable(),
  telegramMessageIds: z.array(z.number()).nullable(),
  createdAt: isoDate,
  sentAt: isoDate.nullable(),
});
const notification = z.object({
  id: z.string(),
  source: z.string(),
  text: z.string(),
  format: z.string(),
  idempotencyKey: z.string().nullable(),
  createdAt: isoDate,
  deliveries: z.array(delivery),
});
const pickDelivery = (d: typeof deliveries.$inferSelect) => ({
  id: d.id,
  chatId: d.chatId,
  botId: d.botId,
  status: d.status,
  notificationId: d.notificationId,
  attempts: d.attempts,
  lastError: d.lastError,
  telegramMessageIds: d.telegramMessageIds,
  createdAt: d.createdAt,
  sentAt: d.sentAt,
});

const contentTypes: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  pdf: 'application/pdf',
  txt: 'text/plain',
  csv: 'text/csv',
  json: 'application/json',
  zip: 'application/zip',
};
/** A content type from the file name when the client gave none. */
const contentTypeOf = (filename: string) =>
  contentTypes[/\.([a-z0-9]+)$/i.exec(filename)?.[1]?.toLowerCase() ?? ''] ??
  'application/octet-stream';

export const notificationRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { db } = deps;
    const batcher =
      deps.config.notificationsBatchMax > 1
        ? createNotificationBatcher(db, {
            maxBatch: deps.config.notificationsBatchMax,
            maxInFlight: 2,
            windowMs: deps.config.notificationsBatchWindowMs,
          })
        : undefined;
    // Requests still waiting for their batch are answered before the pool closes.
    app.addHook('onClose', async () => batcher?.drain());

    const uploadLimit = deps.config.telegramUploadLimitBytes;
    app.post('/orgs/:orgId/notifications', {
      config: access.org('operator'),
      // Room for files up to the upload limit in base64, beside the text.
      bodyLimit: Math.max(
        deps.config.bodyLimitBytes,
        Math.ceil((uploadLimit * 4) / 3) + 1024 * 1024,
      ),
      schema: {
        tags: ['notifications'],
        params: orgParams,
        body,
        response: { 202: z.object({ id: z.string(), deliveries: z.array(deliveryShort) }) },
      },
      handler: async (request, reply) => {
        const { orgId } = orgOf(request);
        const b = request.body;
        const files = (b.attachments ?? []).map((a, i) => {
          const content = Buffer.from(a.content, 'base64');
          if (content.length > uploadLimit)
            throw new AppError('validation', 'Attachment over the upload limit', {
              errors: [
                {
                  path: `attachments.${i}.content`,
                  message: `${content.length} bytes; the limit is ${uploadLimit}`,
                },
              ],
            });
          return {
            filename: a.filename,
            contentType: a.contentType ?? contentTypeOf(a.filename),
            content,
          };
        });
        const input: EnqueueInput = {
          source: 'api',
          text: b.text,
          format: b.format,
          targets: b.chatIds.map((chatId) => ({
            chatId,
            ...(b.botId ? { botId: b.botId } : {}),
          })),
          options: { silent: b.silent, disableLinkPreview: b.disableLinkPreview },
          ...(b.idempotencyKey ? { idempotencyKey: b.idempotencyKey } : {}),
          attachments: files,
        };
        const result = batcher
          ? await batcher.submit(orgId, input)
          : await db.transaction((tx) => enqueueNotification(tx, orgId, input));
        return reply.status(202).send({
          id: result.notification.id,
          deliveries: result.deliveries.map((d) => ({
            id: d.id,
            chatId: d.chatId,
            botId: d.botId,
            status: d.status,
          })),
        });
      },
    });

    app.get('/orgs/:orgId/notifications', {
      config: access.org('viewer'),
      schema: {
        tags: ['notifications'],
        params: orgParams,
        querystring: listQuery,
        response: { 200: z.object({ items: z.array(notification), total: z.number() }) },
      },
      handler: async (request) => {
        const { orgId } = orgOf(request);
        const q = request.query;
        const rows = await db
          .select()
          .from(notifications)
          .where(eq(notifications.orgId, orgId))
          .orderBy(desc(notifications.createdAt))
          .limit(q.limit)
          .offset(q.offset);
        const [{ total } = { total: 0 }] = await db
          .select({ total: count() })
          .from(notifications)
          .where(eq(notifications.orgId, orgId));
        const ds = rows.length
          ? await db
              .select()
              .from(deliveries)
              .where(
                inArray(
                  deliveries.notificationId,
                  rows.map((r) => r.id),
                ),
              )
              .orderBy(deliveries.seq)
          : [];
        return {
          items: rows.map((n) => ({
            ...n,
            deliveries: ds.filter((d) => d.notificationId === n.id).map(pickDelivery),
          })),
          total,
        };
      },
    });

    app.get('/orgs/:orgId/notifications/:id', {
      config: access.org('viewer'),
      schema: {
        tags: ['notifications'],
        params: orgParams.extend({ id: z.string().uuid() }),
        response: { 200: notification },
      },
      handler: async (request) => {
        const { orgId } = orgOf(request);
        const [n] = await db
          .select()
          .from(notifications)
          .where(and(eq(notifications.orgId, orgId), eq(notifications.id, request.params.id)));
        if (!n) throw notFound('Notification');
        const ds = await db
          .select()
          .from(deliveries)
          .where(eq(deliveries.notificationId, n.id))
          .orderBy(deliveries.seq);
        return { ...n, deliveries: ds.map(pickDelivery) };
      },
    });

    app.get('/orgs/:orgId/deliveries', {
      config: access.org('viewer'),
      schema: {
        tags: ['notifications'],
        params: orgParams,
        querystring: listQuery.extend({
          status: z.enum(deliveryStatuses).optional(),
          chatId: z.string().uuid().optional(),
          botId: z.string().uuid().optional(),
        }),
        response: { 200: z.object({ items: z.array(delivery), total: z.number() }) },
      },
      handler: async (request) => {
        const { orgId } = orgOf(request);
        const q = request.query;
        const where = and(
          eq(deliveries.orgId, orgId),
          q.status ? eq(deliveries.status, q.status) : undefined,
          q.chatId ? eq(deliveries.chatId, q.chatId) : undefined,
          q.botId ? eq(deliveries.botId, q.botId) : undefined,
        );
        const rows = await db
          .select()
          .from(deliveries)
          .where(where)
          .orderBy(desc(deliveries.seq))
          .limit(q.limit)
          .offset(q.offset);
        const [{ total } = { total: 0 }] = await db
          .select({ total: count() })
          .from(deliveries)
          .where(where);
        return { items: rows.map(pickDelivery), total };
      },
    });

    app.get('/orgs/:orgId/deliveries/:id', {
      config: access.org('viewer'),
      schema: {
        tags: ['notifications'],
        summary: 'One delivery (the SPA links each row of the deliveries list to it)',
        params: orgParams.extend({ id: z.string().uuid() }),
        response: { 200: delivery },
      },
      handler: async (request) => {
        const [d] = await db
          .select()
          .from(deliveries)
          .where(
            and(eq(deliveries.orgId, orgOf(request).orgId), eq(deliveries.id, request.params.id)),
          );
        if (!d) throw notFound('Delivery');
        return pickDelivery(d);
      },
    });

    app.post('/orgs/:orgId/deliveries/:id/retry', {
      config: access.org('operator'),
      schema: {
        tags: ['notifications'],
        params: orgParams.extend({ id: z.string().uuid() }),
        response: { 200: delivery },
      },
      handler: async (request) => {
        const { orgId } = orgOf(request);
        const [d] = await db
          .select()
          .from(deliveries)
          .where(and(eq(deliveries.orgId, orgId), eq(deliveries.id, request.params.id)));
        if (!d) throw notFound('Delivery');
        if (d.status !== 'failed' && d.status !== 'dead')
          throw new AppError(
            'conflict',
            `Delivery is ${d.status}; only failed or dead deliveries can be retried`,
          );
        const [row] = await db
          .update(deliveries)
          .set({
            status: 'queued',
            attempts: 0,
            nextAttemptAt: new Date(),
            leaseExpiresAt: null,
            updatedAt: new Date(),
          })
          .where(eq(deliveries.id, d.id))
          .returning();
        return pickDelivery(row!);
      },
    });
  };
