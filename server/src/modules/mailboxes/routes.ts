import { and, eq } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { mailboxes } from '../../db/schema.js';
import { badRequest, notFound } from '../../errors.js';
import { access, actorOf, orgOf } from '../../http/access.js';
import { isoDate, nullableIsoDate, orgParams } from '../../http/list.js';
import { assertPublicMailHost } from '../../mail/host-guard.js';
import { openImapSession } from '../../mail/imap.js';
import { openPop3Session } from '../../mail/pop3.js';
import { auditRepository } from '../audit/repository.js';

const mailbox = z.object({
  id: z.string(),
  name: z.string(),
  protocol: z.enum(['imap', 'pop3']),
  host: z.string(),
  port: z.number(),
  security: z.enum(['tls', 'starttls', 'none']),
  username: z.string(),
  folder: z.string(),
  mode: z.enum(['idle', 'poll']),
  pollIntervalSeconds: z.number(),
  enabled: z.boolean(),
  status: z.string(),
  lastError: z.string().nullable(),
  lastMessageAt: nullableIsoDate,
  createdAt: isoDate,
});
const createBody = z.object({
  name: z.string().trim().min(1).max(200),
  protocol: z.enum(['imap', 'pop3']),
  host: z.string().trim().min(1).max(255),
  port: z.number().int().min(1).max(65535),
  security: z.enum(['tls', 'starttls', 'none']),
  username: z.string().min(1).max(320),
  password: z.string().min(1).max(1000),
  folder: z.string().min(1).max(500).default('INBOX'),
  mode: z.enum(['idle', 'poll']).default('idle'),
  pollIntervalSeconds: z.number().int().min(10).max(86400).default(60),
});
const params = orgParams.extend({ mailboxId: z.string().uuid() });

export const mailboxRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { db } = deps;
    /** SSRF guard: refuses loopback, private and metadata addresses unless MAIL_ALLOW_PRIVATE_HOSTS. */
    const guard = async (host: string) => {
      try {
        return await assertPublicMailHost(host, {
          allowPrivate: deps.config.mailAllowPrivateHosts,
        });
      } catch (e) {
        throw badRequest('Host refused', [{ path: 'host', message: (e as Error).message }]);
      }
    };

    app.get('/orgs/:orgId/mailboxes', {
      config: access.org('viewer'),
      schema: {
        tags: ['mailboxes'],
        params: orgParams,
        response: { 200: z.object({ items: z.array(mailbox), total: z.number() }) },
      },
      handler: async (request) => {
        const items = await db
          .select()
          .from(mailboxes)
          .where(eq(mailboxes.orgId, orgOf(request).orgId));
        return { items, total: items.length };
      },
    });

    app.post('/orgs/:orgId/mailboxes', {
      config: access.org('admin'),
      schema: {
        tags: ['mailboxes'],
        params: orgParams,
        body: createBody,
        response: { 201: mailbox },
      },
      handler: async (request, reply) => {
        const { orgId } = orgOf(request);
        await guard(request.body.host);
        const { password, ...rest } = request.body;
        const row = await db.transaction(async (tx) => {
          const [created] = await tx
            .insert(mailboxes)
            .values({ ...rest, orgId, secretEncrypted: deps.secrets.encrypt(password) })
            .returning();
          await auditRepository.record(tx, orgId, actorOf(request), {
            action: 'mailbox.create',
            targetType: 'mailbox',
            targetId: created!.id,
            after: { ...created!, secretEncrypted: undefined },
          });
          return created!;
        });
        return reply.status(201).send(row);
      },
    });

    app.get('/orgs/:orgId/mailboxes/:mailboxId', {
      config: access.org('viewer'),
      schema: { tags: ['mailboxes'], params, response: { 200: mailbox } },
      handler: async (request) => {
        const [row] = await db
          .select()
          .from(mailboxes)
          .where(
            and(
              eq(mailboxes.orgId, orgOf(request).orgId),
              eq(mailboxes.id, request.params.mailboxId),
            ),
          );
        if (!row) throw notFound('Mailbox');
        return row;
      },
    });

    app.delete('/orgs/:orgId/mailboxes/:mailboxId', {
      config: access.org('admin'),
      schema: { tags: ['mailboxes'], params },
      handler: async (request, reply) => {
        const { orgId } = orgOf(request);
        await db.transaction(async (tx) => {
          const [row] = await tx
            .delete(mailboxes)
            .where(and(eq(mailboxes.orgId, orgId), eq(mailboxes.id, request.params.mailboxId)))
            .returning();
          if (!row) throw notFound('Mailbox');
          await auditRepository.record(tx, orgId, actorOf(request), {
            action: 'mailbox.delete',
            targetType: 'mailbox',
            targetId: row.id,
            before: { id: row.id, name: row.name },
          });
        });
        return reply.status(204).send();
      },
    });

    app.post('/orgs/:orgId/mailboxes/:mailboxId/test', {
      config: access.org('admin'),
      schema: {
        tags: ['mailboxes'],
        summary: 'Log in and report a clear error',
        params,
        response: { 200: z.object({ ok: z.boolean(), error: z.string().optional() }) },
      },
      handler: async (request) => {
        const [row] = await db
          .select()
          .from(mailboxes)
          .where(
            and(
              eq(mailboxes.orgId, orgOf(request).orgId),
              eq(mailboxes.id, request.params.mailboxId),
            ),
          );
        if (!row) throw notFound('Mailbox');
        try {
          const checked = await assertPublicMailHost(row.host, {
            allowPrivate: deps.config.mailAllowPrivateHosts,
          });
          const settings = {
            host: checked.address,
            servername: checked.servername,
            port: row.port,
            security: row.security,
            username: row.username,
            password: deps.secrets.decrypt(row.secretEncrypted),
            connectTimeoutMs: 15_000,
          };
          if (row.protocol === 'imap')
            await (await openImapSession({ ...settings, folder: row.folder })).close();
          else await (await openPop3Session(settings)).quit();
          return { ok: true };
        } catch (e) {
          return { ok: false, error: (e as Error).message };
        }
      },
    });
  };
