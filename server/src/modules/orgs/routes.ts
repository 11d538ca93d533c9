import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { AppError, badRequest, notFound } from '../../errors.js';
import { access, actorOf, orgOf } from '../../http/access.js';
import { isoDate, orgParams } from '../../http/list.js';
import { auditRepository } from '../audit/repository.js';
import { MAX_ALERT_AFTER_MINUTES } from '../alerts/repository.js';
import { roleSchema } from '../auth/schema.js';
import { orgRepository } from './repository.js';

export const orgSettings = z
  .object({
    timeZone: z.string().max(64).optional(),
    language: z.enum(['en', 'ru']).optional(),
    theme: z
      .object({
        mode: z.enum(['light', 'dark']).optional(),
        primaryColor: z
          .string()
          .regex(/^#[0-9a-fA-F]{6}$/)
          .optional(),
      })
      .optional(),
    // An <img src>: http(s), an inline image, or a path on this host; never javascript: & co.
    logoUrl: z
      .string()
      .max(2048)
      .regex(
        /^(https?:\/\/\S+|data:image\/[^\r\n]+|\/\S*)$/,
        'An http(s) URL, a data:image URL or a /path',
      )
      .or(z.literal(''))
      .optional(),
    icons: z.record(z.string().max(40), z.string().max(60)).optional(),
    /** Where alerts go (a chat of this org); null: alerts are only shown in the app. */
    alertChatId: z.string().uuid().nullable().optional(),
    /** How long a bot or mailbox fails before its alert fires. */
    alertAfterMinutes: z.number().int().min(1).max(MAX_ALERT_AFTER_MINUTES).optional(),
    /** A reminder while an alert stays open; 0: none. */
    alertReminderHours: z.number().int().min(0).max(720).optional(),
  })
  .strict();

const orgResponse = z.object({
  id: z.string(),
  name: z.string(),
  settings: z.record(z.string(), z.unknown()),
  role: roleSchema.optional(),
  createdAt: isoDate,
});
const present = (
  o: { id: string; name: string; settings: Record<string, unknown>; createdAt: Date },
  role?: z.infer<typeof roleSchema>,
) => ({
  id: o.id,
  name: o.name,
  settings: o.settings,
  createdAt: o.createdAt,
  ...(role ? { role } : {}),
});

export const orgRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { db } = deps;

    app.get('/orgs', {
      config: access.user,
      schema: {
        tags: ['organizations'],
        summary: "The caller's organizations",
        response: { 200: z.object({ items: z.array(orgResponse), total: z.number() }) },
      },
      handler: async (request) => {
        const p = request.principal!;
        const rows = p.type === 'user' ? await orgRepository.listForUser(db, p.userId) : [];
        return { items: rows.map((r) => present(r.org, r.role)), total: rows.length };
      },
    });

    app.post('/orgs', {
      config: access.user,
      schema: {
        tags: ['organizations'],
        summary: 'Create an organization (the creator becomes its owner)',
        body: z.object({ name: z.string().trim().min(1).max(120) }),
        response: { 201: orgResponse },
      },
      handler: async (request, reply) => {
        const p = request.principal!;
        if (p.type !== 'user') throw new AppError('forbidden', 'Only users create organizations');
        const org = await db.transaction(async (tx) => {
          const created = await orgRepository.insert(tx, request.body.name);
          await orgRepository.addMember(tx, created.id, p.userId, 'owner');
          await auditRepository.record(tx, created.id, actorOf(request), {
            action: 'organization.create',
            targetType: 'organization',
            targetId: created.id,
            after: { name: created.name },
          });
          return created;
        });
        return reply.status(201).send(present(org, 'owner'));
      },
    });

    app.get('/orgs/:orgId', {
      config: access.org('viewer'),
      schema: { tags: ['organizations'], params: orgParams, response: { 200: orgResponse } },
      handler: async (request) => {
        const { orgId, role } = orgOf(request);
        const org = await orgRepository.find(db, orgId);
        if (!org) throw notFound('Organization');
        return present(org, role);
      },
    });

    app.patch('/orgs/:orgId', {
      config: access.org('admin'),
      schema: {
        tags: ['organizations'],
        summary:
          'Rename, or change the settings (theme, logo, icons, language, time zone; alert chat, threshold, reminder)',
        params: orgParams,
        body: z.object({
          name: z.string().trim().min(1).max(120).optional(),
          settings: orgSettings.optional(),
        }),
        response: { 200: orgResponse },
      },
      handler: async (request) => {
        const { orgId, role } = orgOf(request);
        const updated = await db.transaction(async (tx) => {
          const before = await orgRepository.find(tx, orgId);
          if (!before) throw notFound('Organization');
          const alertChatId = request.body.settings?.alertChatId;
          if (alertChatId && !(await orgRepository.hasChat(tx, orgId, alertChatId)))
            throw badRequest('Unknown chat', [
              { path: 'settings.alertChatId', message: 'No such chat in this organization' },
            ]);
          const settings = request.body.settings
            ? { ...before.settings, ...request.body.settings }
            : undefined;
          const after = await orgRepository.update(tx, orgId, {
            name: request.body.name,
            settings,
          });
          await auditRepository.record(tx, orgId, actorOf(request), {
            action: 'organization.update',
            targetType: 'organization',
            targetId: orgId,
            before: { name: before.name, settings: before.settings },
            after: { name: after!.name, settings: after!.settings },
          });
          return after!;
        });
        return present(updated, role);
      },
    });

    app.delete('/orgs/:orgId', {
      config: access.org('owner'),
      schema: {
        tags: ['organizations'],
        summary: 'Delete the organization and everything it owns',
        params: orgParams,
      },
      handler: async (request, reply) => {
        const { orgId } = orgOf(request);
        await db.transaction(async (tx) => {
          await orgRepository.delete(tx, orgId);
          await auditRepository.record(tx, null, actorOf(request), {
            action: 'organization.delete',
            targetType: 'organization',
            targetId: orgId,
          });
        });
        return reply.status(204).send();
      },
    });
  };
