import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { access, actorOf, orgOf } from '../../http/access.js';
import { listOf, orgParams } from '../../http/list.js';
import { chatQuery, chatSchema, createChatBody, updateChatBody } from './schema.js';
import { presentChat } from './service.js';

const params = orgParams.extend({ chatId: z.string().uuid() });

export const chatRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const chats = deps.services.chats;

    app.get('/orgs/:orgId/chats', {
      config: access.org('viewer'),
      schema: {
        tags: ['chats'],
        summary: 'A page of chats; q searches the title, type and botId filter',
        params: orgParams,
        querystring: chatQuery,
        response: { 200: listOf(chatSchema) },
      },
      handler: async (request) => {
        const page = await chats.list(orgOf(request).orgId, request.query);
        return { items: page.items.map(presentChat), total: page.total };
      },
    });

    app.post('/orgs/:orgId/chats', {
      config: access.org('operator'),
      schema: {
        tags: ['chats'],
        summary: 'Add a chat by its Telegram id and link it to bots',
        params: orgParams,
        body: createChatBody,
        response: { 201: chatSchema },
      },
      handler: async (request, reply) => {
        const row = await chats.create(orgOf(request).orgId, actorOf(request), request.body);
        return reply.status(201).send(presentChat(row));
      },
    });

    app.get('/orgs/:orgId/chats/:chatId', {
      config: access.org('viewer'),
      schema: { tags: ['chats'], params, response: { 200: chatSchema } },
      handler: async (request) =>
        presentChat(await chats.get(orgOf(request).orgId, request.params.chatId)),
    });

    app.patch('/orgs/:orgId/chats/:chatId', {
      config: access.org('operator'),
      schema: {
        tags: ['chats'],
        summary: 'Rename, relink to bots, or set active/inactive',
        params,
        body: updateChatBody,
        response: { 200: chatSchema },
      },
      handler: async (request) =>
        presentChat(
          await chats.update(
            orgOf(request).orgId,
            actorOf(request),
            request.params.chatId,
            request.body,
          ),
        ),
    });

    app.delete('/orgs/:orgId/chats/:chatId', {
      config: access.org('operator'),
      schema: { tags: ['chats'], params },
      handler: async (request, reply) => {
        await chats.remove(orgOf(request).orgId, actorOf(request), request.params.chatId);
        return reply.status(204).send();
      },
    });
  };
