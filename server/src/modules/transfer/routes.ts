import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { AppError } from '../../errors.js';
import { access, actorOf, orgOf } from '../../http/access.js';
import { orgParams } from '../../http/list.js';
import { exportFormat, exportVersion } from './format.js';
import { exportOrganization, importOrganization, minPassphraseLength } from './service.js';

/** An org's whole configuration can be large; everything else keeps BODY_LIMIT_BYTES. */
const IMPORT_BODY_LIMIT = 32 * 1024 * 1024;

const documentOut = z
  .object({ format: z.literal(exportFormat), version: z.literal(exportVersion) })
  .loose()
  .describe(
    'The export document: organization, members, bots, chats, mailboxes, webhooks, rules; `secrets` is null or a passphrase-sealed box',
  );
const passphrase = z
  .string()
  .min(minPassphraseLength)
  .max(1000)
  .describe('Seals (export) or opens (import) the secrets; never sent in a URL');
const importBody = z.object({
  document: z.unknown().describe('An export document (GET or POST …/export)'),
  passphrase: passphrase.optional(),
});
const counts = z.object({ created: z.number(), updated: z.number(), unchanged: z.number() });
const importResult = z.object({
  orgId: z.string(),
  summary: z.object({
    organization: z.enum(['created', 'updated', 'unchanged']),
    members: counts,
    bots: counts,
    chats: counts,
    mailboxes: counts,
    webhooks: counts,
    rules: counts,
  }),
  warnings: z.array(z.string()),
  temporaryPasswords: z
    .array(z.object({ email: z.string(), password: z.string() }))
    .describe('Accounts made for members new to this installation: hand each its password'),
});

const attachmentName = (name: string) =>
  `notifypro-${name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 60) || 'org'}-${new Date().toISOString().slice(0, 10)}.json`;

export const transferRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/orgs/:orgId/export', {
      config: access.org('admin'),
      schema: {
        tags: ['organizations'],
        summary: "Export the organization's configuration, without secrets",
        params: orgParams,
        response: { 200: documentOut },
      },
      handler: async (request, reply) => {
        const doc = await exportOrganization(deps, orgOf(request).orgId);
        reply.header(
          'content-disposition',
          `attachment; filename="${attachmentName(doc.organization.name)}"`,
        );
        return doc;
      },
    });

    app.post('/orgs/:orgId/export', {
      config: access.org('owner'),
      schema: {
        tags: ['organizations'],
        summary:
          'Export with the secrets (bot tokens, mailbox passwords, webhook HMAC secrets), sealed with a passphrase',
        params: orgParams,
        body: z.object({ passphrase }),
        response: { 200: documentOut },
      },
      handler: async (request, reply) => {
        const doc = await exportOrganization(deps, orgOf(request).orgId, {
          passphrase: request.body.passphrase,
        });
        reply.header(
          'content-disposition',
          `attachment; filename="${attachmentName(doc.organization.name)}"`,
        );
        return doc;
      },
    });

    app.post('/orgs/:orgId/import', {
      config: access.org('owner'),
      bodyLimit: IMPORT_BODY_LIMIT,
      schema: {
        tags: ['organizations'],
        summary:
          'Import an export document into this organization: matched by natural keys, nothing doubled, nothing deleted',
        params: orgParams,
        body: importBody,
        response: { 200: importResult },
      },
      handler: async (request) =>
        importOrganization(deps, { orgId: orgOf(request).orgId }, request.body.document, {
          passphrase: request.body.passphrase,
          actor: actorOf(request),
          pathPrefix: 'body.document.',
          passphrasePath: 'body.passphrase',
        }),
    });

    app.post('/orgs/import', {
      config: access.user,
      bodyLimit: IMPORT_BODY_LIMIT,
      schema: {
        tags: ['organizations'],
        summary: 'Import an export document as a new organization (the caller becomes its owner)',
        body: importBody,
        response: { 201: importResult },
      },
      handler: async (request, reply) => {
        const p = request.principal!;
        if (p.type !== 'user') throw new AppError('forbidden', 'Only users create organizations');
        const result = await importOrganization(
          deps,
          { newOrg: { ownerUserId: p.userId } },
          request.body.document,
          {
            passphrase: request.body.passphrase,
            actor: actorOf(request),
            pathPrefix: 'body.document.',
            passphrasePath: 'body.passphrase',
          },
        );
        return reply.status(201).send(result);
      },
    });
  };
