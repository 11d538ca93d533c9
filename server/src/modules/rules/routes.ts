import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import type { Executor } from '../../db/client.js';
import { badRequest, notFound } from '../../errors.js';
import { access, actorOf, orgOf } from '../../http/access.js';
import { isoDate, orgParams, sortedListQuery } from '../../http/list.js';
import { auditRepository } from '../audit/repository.js';
import { conditionOps, evaluateRules, unsafeRegexReason } from './engine.js';
import { ruleRepository, ruleSortFields } from './repository.js';
import { renderTemplate } from './template.js';

const field = z
  .string()
  .regex(
    /^(from|to|subject|text|body|header:[\w-]+|body\.[\w.-]+)$/,
    'from, to, subject, text, header:<Name> or body.<path>',
  );
export const ruleCondition = z
  .object({ field, op: z.enum(conditionOps), value: z.string().max(1000).optional() })
  .superRefine((c, ctx) => {
    if (c.op !== 'exists' && c.value === undefined)
      ctx.addIssue({ code: 'custom', message: 'value is required', path: ['value'] });
    const reason = c.op === 'regex' && c.value !== undefined ? unsafeRegexReason(c.value) : null;
    if (reason) ctx.addIssue({ code: 'custom', message: reason, path: ['value'] });
  });
const target = z.object({ chatId: z.string().uuid(), botId: z.string().uuid().optional() });
const ruleBody = z.object({
  name: z.string().trim().min(1).max(200),
  enabled: z.boolean().default(true),
  sources: z
    .object({
      mailboxIds: z.array(z.string().uuid()).optional(),
      webhookIds: z.array(z.string().uuid()).optional(),
    })
    .default({}),
  match: z.enum(['all', 'any']).default('all'),
  conditions: z.array(ruleCondition).max(50).default([]),
  targets: z.array(target).min(1).max(50),
  template: z.string().max(4000).nullable().optional(),
  includeAttachments: z.boolean().default(false),
  stopProcessing: z.boolean().default(false),
  priority: z.number().int().min(0).max(1_000_000).default(100),
});
const rulePatch = z.object({
  name: z.string().trim().min(1).max(200).optional(),
  enabled: z.boolean().optional(),
  sources: z
    .object({
      mailboxIds: z.array(z.string().uuid()).optional(),
      webhookIds: z.array(z.string().uuid()).optional(),
    })
    .optional(),
  match: z.enum(['all', 'any']).optional(),
  conditions: z.array(ruleCondition).max(50).optional(),
  targets: z.array(target).min(1).max(50).optional(),
  template: z.string().max(4000).nullable().optional(),
  includeAttachments: z.boolean().optional(),
  stopProcessing: z.boolean().optional(),
  priority: z.number().int().min(0).max(1_000_000).optional(),
});
const rule = z.object({
  id: z.string(),
  name: z.string(),
  enabled: z.boolean(),
  priority: z.number(),
  sources: z.object({
    mailboxIds: z.array(z.string()).optional(),
    webhookIds: z.array(z.string()).optional(),
  }),
  match: z.enum(['all', 'any']),
  conditions: z.array(
    z.object({ field: z.string(), op: z.string(), value: z.string().optional() }),
  ),
  targets: z.array(z.object({ chatId: z.string(), botId: z.string().optional() })),
  template: z.string().nullable(),
  includeAttachments: z.boolean(),
  stopProcessing: z.boolean(),
  createdAt: isoDate,
  updatedAt: isoDate,
});
const ruleParams = orgParams.extend({ ruleId: z.string().uuid() });
const testEvent = z.object({
  source: z.enum(['mail', 'webhook', 'api']).default('mail'),
  mailboxId: z.string().optional(),
  webhookId: z.string().optional(),
  mailbox: z.string().optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  subject: z.string().optional(),
  text: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.unknown().optional(),
});

async function assertTargetsInOrg(db: Executor, orgId: string, targets: { chatId: string }[]) {
  const ids = [...new Set(targets.map((t) => t.chatId))];
  const found = await ruleRepository.existingChatIds(db, orgId, ids);
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length)
    throw badRequest(
      'Unknown chat',
      missing.map((id) => ({
        path: 'targets',
        message: `chat ${id} not found in this organization`,
      })),
    );
}

export const ruleRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { db } = deps;

    app.get('/orgs/:orgId/rules', {
      config: access.org('viewer'),
      schema: {
        tags: ['rules'],
        summary: 'A page of rules (by priority unless sorted otherwise); q searches the name',
        params: orgParams,
        querystring: sortedListQuery(ruleSortFields, 'asc'),
        response: { 200: z.object({ items: z.array(rule), total: z.number() }) },
      },
      handler: async (request) => ruleRepository.list(db, orgOf(request).orgId, request.query),
    });

    app.post('/orgs/:orgId/rules', {
      config: access.org('operator'),
      schema: { tags: ['rules'], params: orgParams, body: ruleBody, response: { 201: rule } },
      handler: async (request, reply) => {
        const { orgId } = orgOf(request);
        const created = await db.transaction(async (tx) => {
          await assertTargetsInOrg(tx, orgId, request.body.targets);
          const row = await ruleRepository.insert(tx, orgId, {
            ...request.body,
            template: request.body.template ?? null,
          });
          await auditRepository.record(tx, orgId, actorOf(request), {
            action: 'rule.create',
            targetType: 'rule',
            targetId: row.id,
            after: row,
          });
          return row;
        });
        return reply.status(201).send(created);
      },
    });

    app.get('/orgs/:orgId/rules/:ruleId', {
      config: access.org('viewer'),
      schema: { tags: ['rules'], params: ruleParams, response: { 200: rule } },
      handler: async (request) => {
        const row = await ruleRepository.get(db, orgOf(request).orgId, request.params.ruleId);
        if (!row) throw notFound('Rule');
        return row;
      },
    });

    app.patch('/orgs/:orgId/rules/:ruleId', {
      config: access.org('operator'),
      schema: { tags: ['rules'], params: ruleParams, body: rulePatch, response: { 200: rule } },
      handler: async (request) => {
        const { orgId } = orgOf(request);
        return db.transaction(async (tx) => {
          const before = await ruleRepository.get(tx, orgId, request.params.ruleId);
          if (!before) throw notFound('Rule');
          if (request.body.targets) await assertTargetsInOrg(tx, orgId, request.body.targets);
          const row = (await ruleRepository.update(tx, orgId, before.id, request.body))!;
          await auditRepository.record(tx, orgId, actorOf(request), {
            action: 'rule.update',
            targetType: 'rule',
            targetId: row.id,
            before,
            after: row,
          });
          return row;
        });
      },
    });

    app.delete('/orgs/:orgId/rules/:ruleId', {
      config: access.org('operator'),
      schema: { tags: ['rules'], params: ruleParams },
      handler: async (request, reply) => {
        const { orgId } = orgOf(request);
        await db.transaction(async (tx) => {
          const row = await ruleRepository.remove(tx, orgId, request.params.ruleId);
          if (!row) throw notFound('Rule');
          await auditRepository.record(tx, orgId, actorOf(request), {
            action: 'rule.delete',
            targetType: 'rule',
            targetId: row.id,
            before: row,
          });
        });
        return reply.status(204).send();
      },
    });

    app.post('/orgs/:orgId/rules/:ruleId/test', {
      config: access.org('viewer'),
      schema: {
        tags: ['rules'],
        summary: 'What this rule would do with a given event (ignores enabled and stop-processing)',
        params: ruleParams,
        body: z.object({ event: testEvent }),
        response: {
          200: z.object({
            matched: z.boolean(),
            targets: z.array(z.object({ chatId: z.string(), botId: z.string().optional() })),
            text: z.string().nullable(),
          }),
        },
      },
      handler: async (request) => {
        const row = await ruleRepository.get(db, orgOf(request).orgId, request.params.ruleId);
        if (!row) throw notFound('Rule');
        const { mailbox, ...event } = request.body.event;
        const matched =
          evaluateRules([{ ...row, enabled: true, stopProcessing: false }], event).length > 0;
        return {
          matched,
          targets: matched ? row.targets : [],
          text: matched ? renderTemplate(row.template, event, { mailbox }) : null,
        };
      },
    });
  };
