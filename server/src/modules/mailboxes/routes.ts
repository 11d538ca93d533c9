import { and, eq } from 'drizzle-orm';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { mailboxes, pop3SeenUids } from '../../db/schema.js';
import { badRequest, notFound } from '../../errors.js';
import { access, actorOf, orgOf } from '../../http/access.js';
import { isoDate, nullableIsoDate, orgParams, sortedListQuery } from '../../http/list.js';
import { isAuthFailure } from '../../mail/errors.js';
import { assertPublicMailHost } from '../../mail/host-guard.js';
import { openImapSession } from '../../mail/imap.js';
import { openPop3Session } from '../../mail/pop3.js';
import { auditRepository } from '../audit/repository.js';
import { mailCredentials, sealOAuth2Secret } from './credentials.js';
import { mailboxRepository, mailboxSortFields } from './repository.js';

const mailbox = z.object({
  id: z.string(),
  name: z.string(),
  protocol: z.enum(['imap', 'pop3']),
  host: z.string(),
  port: z.number(),
  security: z.enum(['tls', 'starttls', 'none']),
  username: z.string(),
  authType: z.enum(['password', 'oauth2']),
  folder: z.string(),
  mode: z.enum(['idle', 'poll']),
  pollIntervalSeconds: z.number(),
  markSeen: z.boolean(),
  enabled: z.boolean(),
  status: z.string(),
  lastError: z.string().nullable(),
  lastMessageAt: nullableIsoDate,
  createdAt: isoDate,
});
/** OAuth2 (XOAUTH2) instead of a password: the worker refreshes the access token itself. */
const oauth2Body = z.object({
  tokenUrl: z.string().url().max(2000),
  clientId: z.string().min(1).max(500),
  clientSecret: z.string().min(1).max(2000).optional(),
  refreshToken: z.string().min(1).max(8000),
  accessToken: z.string().min(1).max(8000).optional(),
  /** Seconds the given access token stays valid; unknown: refreshed before first use. */
  accessTokenExpiresIn: z.number().int().positive().optional(),
});
const settingsFields = {
  name: z.string().trim().min(1).max(200),
  host: z.string().trim().min(1).max(255),
  port: z.number().int().min(1).max(65535),
  security: z.enum(['tls', 'starttls', 'none']),
  username: z.string().min(1).max(320),
  password: z.string().min(1).max(1000),
  oauth2: oauth2Body,
  folder: z.string().min(1).max(500),
  mode: z.enum(['idle', 'poll']),
  pollIntervalSeconds: z.number().int().min(10).max(86400),
  markSeen: z.boolean(),
  enabled: z.boolean(),
};
const oneSecret = (b: { password?: unknown; oauth2?: unknown }) =>
  !(b.password !== undefined && b.oauth2 !== undefined);
const createBody = z
  .object({
    ...settingsFields,
    protocol: z.enum(['imap', 'pop3']),
    password: settingsFields.password.optional(),
    oauth2: settingsFields.oauth2.optional(),
    folder: settingsFields.folder.default('INBOX'),
    mode: settingsFields.mode.default('idle'),
    pollIntervalSeconds: settingsFields.pollIntervalSeconds.default(60),
    markSeen: settingsFields.markSeen.default(false),
    enabled: settingsFields.enabled.default(true),
  })
  .refine((b) => oneSecret(b) && (b.password !== undefined || b.oauth2 !== undefined), {
    message: 'Give either password or oauth2',
    path: ['password'],
  });
const patchBody = z
  .object(settingsFields)
  .partial()
  .strict()
  .refine(oneSecret, { message: 'Give either password or oauth2, not both', path: ['password'] });

/** The stored secret and auth type for a password or an OAuth2 grant. */
function sealSecret(
  secrets: AppDeps['secrets'],
  b: { password?: string | undefined; oauth2?: z.infer<typeof oauth2Body> | undefined },
): { authType: 'password' | 'oauth2'; secretEncrypted: string } | undefined {
  if (b.password !== undefined)
    return { authType: 'password', secretEncrypted: secrets.encrypt(b.password) };
  if (!b.oauth2) return undefined;
  const { accessTokenExpiresIn, ...grant } = b.oauth2;
  return {
    authType: 'oauth2',
    secretEncrypted: sealOAuth2Secret(secrets, {
      ...grant,
      expiresAt: accessTokenExpiresIn ? Date.now() + accessTokenExpiresIn * 1000 : undefined,
    }),
  };
}
/** Settings that make the stored cursor (UIDVALIDITY, last UID, POP3 UIDLs) someone else's. */
const locationFields = ['host', 'port', 'username', 'folder'] as const;
const noSecret = (row: typeof mailboxes.$inferSelect) => ({
  ...row,
  secretEncrypted: undefined,
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
        summary: 'A page of mailboxes; q searches the name',
        params: orgParams,
        querystring: sortedListQuery(mailboxSortFields, 'asc'),
        response: { 200: z.object({ items: z.array(mailbox), total: z.number() }) },
      },
      handler: async (request) => mailboxRepository.list(db, orgOf(request).orgId, request.query),
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
        const { password, oauth2, ...rest } = request.body;
        const secret = sealSecret(deps.secrets, { password, oauth2 })!;
        const row = await db.transaction(async (tx) => {
          const [created] = await tx
            .insert(mailboxes)
            .values({ ...rest, ...secret, orgId })
            .returning();
          await auditRepository.record(tx, orgId, actorOf(request), {
            action: 'mailbox.create',
            targetType: 'mailbox',
            targetId: created!.id,
            after: noSecret(created!),
          });
          return created!;
        });
        return reply.status(201).send(row);
      },
    });

    app.get('/orgs/:orgId/mailboxes/:mailboxId', {
      config: access.org('viewer'),
      schema: { tags: ['mailboxes'], params, response: { 200: mailbox } },
      handler: async (request) =>
        mailboxRepository.find(db, orgOf(request).orgId, request.params.mailboxId),
    });

    app.patch('/orgs/:orgId/mailboxes/:mailboxId', {
      config: access.org('admin'),
      schema: {
        tags: ['mailboxes'],
        summary: 'Change settings; password / oauth2 are write-only and replace the stored secret',
        params,
        body: patchBody,
        response: { 200: mailbox },
      },
      handler: async (request) => {
        const { orgId } = orgOf(request);
        const { password, oauth2, ...settings } = request.body;
        if (settings.host !== undefined) await guard(settings.host);
        return db.transaction(async (tx) => {
          const [before] = await tx
            .select()
            .from(mailboxes)
            .where(and(eq(mailboxes.orgId, orgId), eq(mailboxes.id, request.params.mailboxId)))
            .for('update');
          if (!before) throw notFound('Mailbox');
          const moved = locationFields.some(
            (f) => settings[f] !== undefined && settings[f] !== before[f],
          );
          const secret = sealSecret(deps.secrets, { password, oauth2 });
          const reconnect = moved || secret !== undefined || settings.security !== undefined;
          const [after] = await tx
            .update(mailboxes)
            .set({
              ...settings,
              ...secret,
              // another mailbox (or folder): start a new baseline there, send no old mail
              ...(moved ? { uidValidity: null, lastUid: null, lastCheckedAt: null } : {}),
              ...(reconnect ? { status: 'pending', lastError: null } : {}),
              // the worker restarts a watcher whose updated_at changed
              updatedAt: new Date(),
            })
            .where(and(eq(mailboxes.orgId, orgId), eq(mailboxes.id, before.id)))
            .returning();
          if (moved) await tx.delete(pop3SeenUids).where(eq(pop3SeenUids.mailboxId, before.id));
          await auditRepository.record(tx, orgId, actorOf(request), {
            action: 'mailbox.update',
            targetType: 'mailbox',
            targetId: before.id,
            before: noSecret(before),
            after: { ...noSecret(after!), secretChanged: secret !== undefined },
          });
          return after!;
        });
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
        const row = await mailboxRepository.find(
          db,
          orgOf(request).orgId,
          request.params.mailboxId,
        );
        const login = async (forceRefresh: boolean) => {
          const checked = await assertPublicMailHost(row.host, {
            allowPrivate: deps.config.mailAllowPrivateHosts,
          });
          const settings = {
            host: checked.address,
            servername: checked.servername,
            port: row.port,
            security: row.security,
            username: row.username,
            ...(await mailCredentials(
              { db, secrets: deps.secrets, allowPrivateHosts: deps.config.mailAllowPrivateHosts },
              row,
              { forceRefresh },
            )),
            connectTimeoutMs: 15_000,
          };
          if (row.protocol === 'imap')
            await (await openImapSession({ ...settings, folder: row.folder })).close();
          else await (await openPop3Session(settings)).quit();
        };
        try {
          try {
            await login(false);
          } catch (e) {
            // As the worker does: a refused access token gets one refresh and one more try.
            if (!(row.authType === 'oauth2' && isAuthFailure(e))) throw e;
            await login(true);
          }
          return { ok: true };
        } catch (e) {
          return { ok: false, error: (e as Error).message };
        }
      },
    });
  };
