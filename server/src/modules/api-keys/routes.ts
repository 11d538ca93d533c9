import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { generateToken, hashToken, secretHint } from '../../crypto/secrets.js';
import { forbidden, notFound } from '../../errors.js';
import { access, actorOf, atLeast, orgOf } from '../../http/access.js';
import { isoDate, nullableIsoDate, orgParams } from '../../http/list.js';
import { auditRepository } from '../audit/repository.js';
import { roleSchema } from '../auth/schema.js';
import { apiKeyRepository } from './repository.js';

const apiKey = z.object({
  id: z.string(),
  name: z.string(),
  role: roleSchema,
  keyHint: z.string(),
  createdAt: isoDate,
  expiresAt: nullableIsoDate,
  lastUsedAt: nullableIsoDate,
});

export const apiKeyRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { db } = deps;

    app.get('/orgs/:orgId/api-keys', {
      config: access.org('viewer'),
      schema: {
        tags: ['api-keys'],
        params: orgParams,
        response: { 200: z.object({ items: z.array(apiKey), total: z.number() }) },
      },
      handler: async (request) => {
        const items = await apiKeyRepository.list(db, orgOf(request).orgId);
        return { items, total: items.length };
      },
    });

    app.post('/orgs/:orgId/api-keys', {
      config: access.org('admin'),
      schema: {
        tags: ['api-keys'],
        summary: 'Create an API key; its value is returned once, here',
        params: orgParams,
        body: z.object({
          name: z.string().trim().min(1).max(120),
          role: roleSchema,
          expiresAt: z.coerce
            .date()
            .refine((d) => d > new Date(), 'must be in the future')
            .optional(),
        }),
        response: { 201: apiKey.extend({ key: z.string() }) },
      },
      handler: async (request, reply) => {
        const ctx = orgOf(request);
        if (!atLeast(ctx.role, request.body.role))
          throw forbidden("A key's role cannot be above its creator's");
        const key = generateToken('npk');
        const p = request.principal!;
        const created = await db.transaction(async (tx) => {
          const row = await apiKeyRepository.insert(tx, ctx.orgId, {
            name: request.body.name,
            role: request.body.role,
            keyHash: hashToken(key),
            keyHint: secretHint(key),
            expiresAt: request.body.expiresAt ?? null,
            createdByUserId: p.type === 'user' ? p.userId : null,
          });
          await auditRepository.record(tx, ctx.orgId, actorOf(request), {
            action: 'api_key.create',
            targetType: 'api_key',
            targetId: row.id,
            after: row,
          });
          return row;
        });
        return reply.status(201).send({ ...created, key });
      },
    });

    app.delete('/orgs/:orgId/api-keys/:keyId', {
      config: access.org('admin'),
      schema: {
        tags: ['api-keys'],
        summary: 'Revoke at once',
        params: orgParams.extend({ keyId: z.string().uuid() }),
      },
      handler: async (request, reply) => {
        const ctx = orgOf(request);
        await db.transaction(async (tx) => {
          const row = await apiKeyRepository.revoke(tx, ctx.orgId, request.params.keyId);
          if (!row) throw notFound('API key');
          await auditRepository.record(tx, ctx.orgId, actorOf(request), {
            action: 'api_key.revoke',
            targetType: 'api_key',
            targetId: row.id,
            before: row,
          });
        });
        return reply.status(204).send();
      },
    });
  };
