import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { access, actorOf, orgOf } from '../../http/access.js';
import { listOf, orgParams } from '../../http/list.js';
import { botSchema, createBotBody, updateBotBody } from './schema.js';
import { presentBot } from './service.js';

const params = orgParams.extend({ botId: z.string().uuid() });

export const botRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const bots = deps.services.bots;

    app.get('/orgs/:orgId/bots', {
      config: access.org('viewer'),
      schema: { tags: ['bots'], params: orgParams, response: { 200: listOf(botSchema) } },
      handler: async (request) => {
        const items = (await bots.list(orgOf(request).orgId)).map(presentBot);
        return { items, total: items.length };
      },
    });

    app.post('/orgs/:orgId/bots', {
      config: access.org('admin'),
      schema: {
        tags: ['bots'],
        summary: 'Register a bot; its token is checked with getMe',
        params: orgParams,
        body: createBotBody,
        response: { 201: botSchema },
      },
      handler: async (request, reply) => {
        const row = await bots.create(orgOf(request).orgId, actorOf(request), request.body);
        return reply.status(201).send(presentBot(row));
      },
    });

    app.get('/orgs/:orgId/bots/:botId', {
      config: access.org('viewer'),
      schema: { tags: ['bots'], params, response: { 200: botSchema } },
      handler: async (request) =>
        presentBot(await bots.get(orgOf(request).orgId, request.params.botId)),
    });

    app.patch('/orgs/:orgId/bots/:botId', {
      config: access.org('admin'),
      schema: {
        tags: ['bots'],
        summary: 'Rename, change mode, replace the token, enable or disable',
        params,
        body: updateBotBody,
        response: { 200: botSchema },
      },
      handler: async (request) =>
        presentBot(
          await bots.update(
            orgOf(request).orgId,
            actorOf(request),
            request.params.botId,
            request.body,
          ),
        ),
    });

    app.delete('/orgs/:orgId/bots/:botId', {
      config: access.org('admin'),
      schema: { tags: ['bots'], params },
      handler: async (request, reply) => {
        await bots.remove(orgOf(request).orgId, actorOf(request), request.params.botId);
        return reply.status(204).send();
      },
    });

    for (const action of ['start', 'stop', 'restart'] as const) {
      app.post(`/orgs/:orgId/bots/:botId/${action}`, {
        config: access.org('admin'),
        schema: { tags: ['bots'], params, response: { 200: botSchema } },
        handler: async (request) =>
          presentBot(
            await bots.control(
              orgOf(request).orgId,
              actorOf(request),
              request.params.botId,
              action,
            ),
          ),
      });
    }
  };
