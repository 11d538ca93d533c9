import { createHmac } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { generateToken, safeEqual, secretHint } from '../../crypto/secrets.js';
import { webhooks, type Role } from '../../db/schema.js';
import { AppError, notFound } from '../../errors.js';
import { access, actorOf, atLeast, orgOf } from '../../http/access.js';
import { isoDate, listOf, nullableIsoDate, orgParams, sortedListQuery } from '../../http/list.js';
import { auditRepository } from '../audit/repository.js';
import { ingestEvent } from '../events/service.js';
import { logRepository } from '../logs/repository.js';
import { webhookRepository, webhookSortFields } from './repository.js';

const HOOK_BODY_LIMIT = 256 * 1024;
/** A refused call is logged at most this often per webhook and reason (a flood stays one row). */
const REFUSAL_LOG_INTERVAL_MS = 60_000;
const lastRefusalLogged = new Map<string, number>();

const webhook = z.object({
  id: z.string(),
  name: z.string(),
  url: z.string(),
  enabled: z.boolean(),
  hasHmacSecret: z.boolean(),
  lastCalledAt: nullableIsoDate,
  createdAt: isoDate,
});

export const webhookRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { db } = deps;
    /** The URL holds the webhook's token, a secret: viewers see only its hint. */
    const present = (w: typeof webhooks.$inferSelect, role: Role) => ({
      ...w,
      url: `${deps.config.publicUrl}/hooks/${atLeast(role, 'operator') ? w.token : secretHint(w.token)}`,
      hasHmacSecret: !!w.hmacSecretEncrypted,
    });

    app.get('/orgs/:orgId/webhooks', {
      config: access.org('viewer'),
      schema: {
        tags: ['webhooks'],
        summary: 'A page of webhooks; q searches the name',
        params: orgParams,
        querystring: sortedListQuery(webhookSortFields),
        response: { 200: listOf(webhook) },
      },
      handler: async (request) => {
        const { orgId, role } = orgOf(request);
        const page = await webhookRepository.list(db, orgId, request.query);
        return { items: page.items.map((w) => present(w, role)), total: page.total };
      },
    });

    app.post('/orgs/:orgId/webhooks', {
      config: access.org('operator'),
      schema: {
        tags: ['webhooks'],
        params: orgParams,
        body: z.object({
          name: z.string().trim().min(1).max(200),
          hmacSecret: z.string().min(8).max(500).optional(),
        }),
        response: { 201: webhook.extend({ token: z.string() }) },
      },
      handler: async (request, reply) => {
        const { orgId } = orgOf(request);
        const row = await db.transaction(async (tx) => {
          const [created] = await tx
            .insert(webhooks)
            .values({
              orgId,
              name: request.body.name,
              token: generateToken('nph', 24),
              hmacSecretEncrypted: request.body.hmacSecret
                ? deps.secrets.encrypt(request.body.hmacSecret)
                : null,
            })
            .returning();
          await auditRepository.record(tx, orgId, actorOf(request), {
            action: 'webhook.create',
            targetType: 'webhook',
            targetId: created!.id,
            after: { id: created!.id, name: created!.name },
          });
          return created!;
        });
        return reply.status(201).send({ ...present(row, orgOf(request).role), token: row.token });
      },
    });

    app.get('/orgs/:orgId/webhooks/:webhookId', {
      config: access.org('viewer'),
      schema: {
        tags: ['webhooks'],
        summary: 'One webhook (its URL; the SPA shows it with a curl example and its recent calls)',
        params: orgParams.extend({ webhookId: z.string().uuid() }),
        response: { 200: webhook },
      },
      handler: async (request) => {
        const [row] = await db
          .select()
          .from(webhooks)
          .where(
            and(
              eq(webhooks.orgId, orgOf(request).orgId),
              eq(webhooks.id, request.params.webhookId),
            ),
          );
        if (!row) throw notFound('Webhook');
        return present(row, orgOf(request).role);
      },
    });

    app.patch('/orgs/:orgId/webhooks/:webhookId', {
      config: access.org('operator'),
      schema: {
        tags: ['webhooks'],
        summary:
          'Rename, enable or disable, set or remove the HMAC secret (write-only; null removes it)',
        params: orgParams.extend({ webhookId: z.string().uuid() }),
        body: z
          .object({
            name: z.string().trim().min(1).max(200).optional(),
            enabled: z.boolean().optional(),
            hmacSecret: z.string().min(8).max(500).nullable().optional(),
          })
          .strict(),
        response: { 200: webhook },
      },
      handler: async (request) => {
        const { orgId, role } = orgOf(request);
        const { name, enabled, hmacSecret } = request.body;
        const row = await db.transaction(async (tx) => {
          const [before] = await tx
            .select()
            .from(webhooks)
            .where(and(eq(webhooks.orgId, orgId), eq(webhooks.id, request.params.webhookId)))
            .for('update');
          if (!before) throw notFound('Webhook');
          const [after] = await tx
            .update(webhooks)
            .set({
              ...(name !== undefined ? { name } : {}),
              ...(enabled !== undefined ? { enabled } : {}),
              ...(hmacSecret !== undefined
                ? { hmacSecretEncrypted: hmacSecret ? deps.secrets.encrypt(hmacSecret) : null }
                : {}),
              updatedAt: new Date(),
            })
            .where(and(eq(webhooks.orgId, orgId), eq(webhooks.id, before.id)))
            .returning();
          await auditRepository.record(tx, orgId, actorOf(request), {
            action: 'webhook.update',
            targetType: 'webhook',
            targetId: before.id,
            before: {
              name: before.name,
              enabled: before.enabled,
              hasHmacSecret: !!before.hmacSecretEncrypted,
            },
            after: {
              name: after!.name,
              enabled: after!.enabled,
              hasHmacSecret: !!after!.hmacSecretEncrypted,
            },
          });
          return after!;
        });
        return present(row, role);
      },
    });

    app.delete('/orgs/:orgId/webhooks/:webhookId', {
      config: access.org('operator'),
      schema: { tags: ['webhooks'], params: orgParams.extend({ webhookId: z.string().uuid() }) },
      handler: async (request, reply) => {
        const { orgId } = orgOf(request);
        await db.transaction(async (tx) => {
          const [row] = await tx
            .delete(webhooks)
            .where(and(eq(webhooks.orgId, orgId), eq(webhooks.id, request.params.webhookId)))
            .returning();
          if (!row) throw notFound('Webhook');
          await auditRepository.record(tx, orgId, actorOf(request), {
            action: 'webhook.delete',
            targetType: 'webhook',
            targetId: row.id,
            before: { id: row.id, name: row.name },
          });
        });
        return reply.status(204).send();
      },
    });
  };

/** `POST /hooks/:token`: any JSON or form body becomes an event. */
export const hookIngressRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    // Keep the raw bytes: the HMAC is over exactly what was sent.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(
      ['application/json', 'application/x-www-form-urlencoded', 'text/plain'],
      { parseAs: 'buffer', bodyLimit: HOOK_BODY_LIMIT },
      (_req, body, done) => done(null, body),
    );

    /** The sender's mistake, told to the org's event log (throttled), then the 4xx. */
    const refuse = async (
      hook: typeof webhooks.$inferSelect,
      ip: string,
      error: AppError,
    ): Promise<never> => {
      const key = `${hook.id}:${error.message}`;
      const now = Date.now();
      if (now - (lastRefusalLogged.get(key) ?? 0) >= REFUSAL_LOG_INTERVAL_MS) {
        lastRefusalLogged.set(key, now);
        if (lastRefusalLogged.size > 10_000) lastRefusalLogged.clear();
        await logRepository.write(deps.db, hook.orgId, {
          level: 'warn',
          source: 'webhook',
          message: `Webhook "${hook.name}" refused a call: ${error.message}`,
          context: { webhookId: hook.id, ip },
        });
      }
      throw error;
    };

    app.post('/hooks/:token', {
      config: { ...access.public, rateLimit: { max: 120, timeWindow: '1 minute' } },
      bodyLimit: HOOK_BODY_LIMIT,
      schema: {
        tags: ['webhooks'],
        params: z.object({ token: z.string().max(200) }),
        response: { 202: z.object({ eventId: z.string() }) },
      },
      handler: async (request, reply) => {
        const [hook] = await deps.db
          .select()
          .from(webhooks)
          .where(and(eq(webhooks.token, request.params.token), eq(webhooks.enabled, true)));
        if (!hook) throw notFound('Webhook');
        const raw = (request.body as Buffer | undefined) ?? Buffer.alloc(0);
        if (hook.hmacSecretEncrypted) {
          const expected = `sha256=${createHmac('sha256', deps.secrets.decrypt(hook.hmacSecretEncrypted)).update(raw).digest('hex')}`;
          const given = request.headers['x-notifypro-signature'];
          if (typeof given !== 'string' || !safeEqual(given, expected))
            await refuse(
              hook,
              request.ip,
              new AppError('unauthorized', 'Bad or missing X-NotifyPro-Signature'),
            );
        }
        const type = String(request.headers['content-type'] ?? '');
        let body: unknown;
        try {
          body = type.includes('x-www-form-urlencoded')
            ? Object.fromEntries(new URLSearchParams(raw.toString('utf8')))
            : raw.length
              ? JSON.parse(raw.toString('utf8'))
              : {};
        } catch {
          if (type.includes('json'))
            await refuse(hook, request.ip, new AppError('bad_request', 'Body is not valid JSON'));
          body = { text: raw.toString('utf8') };
        }
        const result = await ingestEvent({ db: deps.db }, hook.orgId, {
          source: 'webhook',
          webhookId: hook.id,
          body,
          subject:
            typeof (body as Record<string, unknown>)?.subject === 'string'
              ? (body as Record<string, string>).subject
              : null,
          text:
            typeof (body as Record<string, unknown>)?.text === 'string'
              ? (body as Record<string, string>).text
              : null,
          payload: { body, headers: { 'content-type': type } },
        });
        await deps.db
          .update(webhooks)
          .set({ lastCalledAt: new Date() })
          .where(and(eq(webhooks.orgId, hook.orgId), eq(webhooks.id, hook.id)));
        return reply.status(202).send({ eventId: result!.eventId });
      },
    });
  };
