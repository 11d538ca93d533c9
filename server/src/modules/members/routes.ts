import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { access, actorOf, orgOf } from '../../http/access.js';
import { isoDate, orgParams } from '../../http/list.js';
import { email, password, roleSchema } from '../auth/schema.js';

const member = z.object({
  userId: z.string(),
  email: z.string(),
  name: z.string(),
  role: roleSchema,
});
const memberParams = orgParams.extend({ userId: z.string().uuid() });

export const memberRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const members = deps.services.members;

    app.get('/orgs/:orgId/members', {
      config: access.org('viewer'),
      schema: {
        tags: ['members'],
        params: orgParams,
        response: {
          200: z.object({
            items: z.array(member.extend({ createdAt: isoDate })),
            total: z.number(),
          }),
        },
      },
      handler: async (request) => {
        const items = await members.list(orgOf(request));
        return { items, total: items.length };
      },
    });

    app.post('/orgs/:orgId/members', {
      config: access.org('admin'),
      schema: {
        tags: ['members'],
        summary: 'Add a staff member (creates the account when new)',
        params: orgParams,
        body: z.object({
          email,
          name: z.string().trim().min(1).max(120),
          role: roleSchema,
          password: password.optional(),
        }),
        response: { 201: member.extend({ temporaryPassword: z.string().optional() }) },
      },
      handler: async (request, reply) =>
        reply.status(201).send(await members.add(orgOf(request), actorOf(request), request.body)),
    });

    app.patch('/orgs/:orgId/members/:userId', {
      config: access.org('admin'),
      schema: {
        tags: ['members'],
        params: memberParams,
        body: z.object({ role: roleSchema }),
        response: { 200: member },
      },
      handler: async (request) =>
        members.changeRole(
          orgOf(request),
          actorOf(request),
          request.params.userId,
          request.body.role,
        ),
    });

    app.delete('/orgs/:orgId/members/:userId', {
      config: access.org('admin'),
      schema: { tags: ['members'], params: memberParams },
      handler: async (request, reply) => {
        await members.remove(orgOf(request), actorOf(request), request.params.userId);
        return reply.status(204).send();
      },
    });
  };
