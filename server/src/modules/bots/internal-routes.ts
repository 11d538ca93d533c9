import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AppDeps } from '../../app.js';
import { NotifyWaker } from '../../db/notify-waker.js';
import { AppError, notFound } from '../../errors.js';
import { access, runnerOf } from '../../http/access.js';
import { nullableIsoDate } from '../../http/list.js';
import { telegramChatSchema } from '../chats/schema.js';
import { createBotRuntime, updatesChannel, type TelegramUpdate } from './runtime.js';
import { allowedUpdates, webhookPath } from './service.js';

/** An update as Telegram sends it: an object with an integer update_id; the rest is kept as is. */
const update = z.looseObject({ update_id: z.number().int().min(0) });
const botParams = z.object({ botId: z.string().uuid() });

/** /internal/v1 for the bots supervisor (npv_ credential) and each bot's runner (npr_ credential). */
export const botInternalRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const runtime = createBotRuntime(deps.db);
    const chats = deps.services.chats;
    const waker = new NotifyWaker(deps.config.databaseUrl, updatesChannel);
    app.addHook('preClose', () => waker.close());

    // --- the supervisor -----------------------------------------------------------------
    app.get('/supervisor/bots', {
      config: access.supervisor,
      schema: {
        tags: ['internal'],
        response: {
          200: z.object({
            bots: z.array(
              z.object({
                id: z.string(),
                orgId: z.string(),
                name: z.string(),
                enabled: z.boolean(),
                revision: z.number(),
                mode: z.string(),
                status: z.string(),
                lastHeartbeatAt: nullableIsoDate,
                lastError: z.string().nullable(),
              }),
            ),
          }),
        },
      },
      handler: async () => ({ bots: await runtime.desired() }),
    });

    app.post('/supervisor/bots/:botId/credential', {
      config: access.supervisor,
      schema: {
        tags: ['internal'],
        summary: "Issue the runner credential (the previous runner's stops working)",
        params: botParams,
        response: { 200: z.object({ runnerToken: z.string() }) },
      },
      handler: async (request) => {
        const runnerToken = await runtime.issueCredential(request.params.botId);
        if (!runnerToken) throw notFound('Bot');
        return { runnerToken };
      },
    });

    app.post('/supervisor/bots/:botId/status', {
      config: access.supervisor,
      schema: {
        tags: ['internal'],
        params: botParams,
        body: z.object({
          status: z.enum(['starting', 'error', 'stopped']),
          error: z.string().max(2000).nullable().optional(),
        }),
        response: { 204: z.null().describe('No content') },
      },
      handler: async (request, reply) => {
        await runtime.setStatus(request.params.botId, request.body.status, request.body.error);
        return reply.status(204).send(null);
      },
    });

    // --- a bot's runner -----------------------------------------------------------------
    app.get('/runner/bot', {
      config: access.runner,
      schema: {
        tags: ['internal'],
        summary: "The runner's bot: its token and mode",
        response: {
          200: z.object({
            botId: z.string(),
            name: z.string(),
            mode: z.enum(['polling', 'webhook']),
            token: z.string(),
            allowedUpdates: z.array(z.string()),
            webhookUrl: z.string(),
          }),
        },
      },
      handler: async (request) => {
        const bot = await runtime.botForRunner(runnerOf(request).botId);
        if (!bot) throw notFound('Bot');
        return {
          botId: bot.id,
          name: bot.name,
          mode: bot.mode,
          token: deps.secrets.decrypt(bot.tokenEncrypted),
          allowedUpdates: [...allowedUpdates],
          webhookUrl: `${deps.config.publicUrl}${webhookPath(bot.id)}`,
        };
      },
    });

    app.post('/runner/heartbeat', {
      config: access.runner,
      schema: {
        tags: ['internal'],
        body: z.object({
          status: z.enum(['running', 'error']),
          error: z.string().max(2000).nullable().default(null),
        }),
        response: { 200: z.object({ enabled: z.boolean(), revision: z.number() }) },
      },
      handler: async (request) => {
        const row = await runtime.heartbeat(
          runnerOf(request).botId,
          request.body.status,
          request.body.error,
        );
        if (!row) throw notFound('Bot');
        return row;
      },
    });

    app.post('/runner/updates', {
      config: access.runner,
      schema: {
        tags: ['internal'],
        summary: 'Store updates the runner received by polling (repeats are dropped)',
        body: z.object({ updates: z.array(update).max(100) }),
        response: { 200: z.object({ stored: z.number() }) },
      },
      handler: async (request) => ({
        stored: await runtime.storeUpdates(
          runnerOf(request).botId,
          request.body.updates as TelegramUpdate[],
        ),
      }),
    });

    app.post('/runner/updates/claim', {
      config: access.runner,
      schema: {
        tags: ['internal'],
        summary: 'Stored updates not yet processed, oldest first (long poll)',
        body: z.object({
          limit: z.number().int().min(1).max(100).default(50),
          waitMs: z.number().int().min(0).max(60_000).default(0),
        }),
        response: { 200: z.object({ updates: z.array(z.record(z.string(), z.unknown())) }) },
      },
      handler: async (request, reply) => {
        const { botId } = runnerOf(request);
        const rows = await waker.poll(
          botId,
          { waitMs: request.body.waitMs, recheckMs: 5_000, reply },
          () => runtime.pendingUpdates(botId, request.body.limit),
        );
        return { updates: rows.map((r) => r.payload as Record<string, unknown>) };
      },
    });

    app.post('/runner/updates/done', {
      config: access.runner,
      schema: {
        tags: ['internal'],
        body: z.object({ updateIds: z.array(z.number().int()).max(100) }),
        response: { 204: z.null().describe('No content') },
      },
      handler: async (request, reply) => {
        await runtime.markProcessed(runnerOf(request).botId, request.body.updateIds);
        return reply.status(204).send(null);
      },
    });

    app.post('/runner/chats/seen', {
      config: access.runner,
      schema: {
        tags: ['internal'],
        summary: 'The bot joined, left or was blocked in a chat, or saw it (discovery)',
        body: z.object({
          chat: telegramChatSchema,
          status: z.enum(['active', 'inactive']),
          reason: z.string().max(200).nullable().optional(),
          language: z.string().max(16).nullable().optional(),
        }),
        response: { 200: z.object({ chatId: z.string().nullable() }) },
      },
      handler: async (request) => {
        const { botId, orgId } = runnerOf(request);
        const { chat, ...seen } = request.body;
        const row = await chats.recordSeen(orgId, botId, chat, seen);
        return { chatId: row?.id ?? null };
      },
    });

    app.post('/runner/chats/migrate', {
      config: access.runner,
      schema: {
        tags: ['internal'],
        body: z.object({
          fromChatId: z.number().int(),
          toChatId: z.number().int(),
        }),
        response: { 200: z.object({ chatId: z.string().nullable() }) },
      },
      handler: async (request) => {
        const { botId, orgId } = runnerOf(request);
        return {
          chatId: await chats.migrate(orgId, botId, request.body.fromChatId, request.body.toChatId),
        };
      },
    });

    app.get('/runner/chats/:telegramChatId/summary', {
      config: access.runner,
      schema: {
        tags: ['internal'],
        summary: 'What a chat receives (for /status)',
        params: z.object({ telegramChatId: z.coerce.number().int() }),
        response: {
          200: z.object({
            known: z.boolean(),
            chatId: z.string().optional(),
            status: z.string().optional(),
            title: z.string().nullable().optional(),
            rules: z.array(z.object({ name: z.string(), enabled: z.boolean() })).optional(),
          }),
        },
      },
      handler: async (request) =>
        chats.summary(runnerOf(request).orgId, request.params.telegramChatId),
    });
  };

/** POST /telegram/webhook/{botId}: Telegram's pushes, checked against the secret set with setWebhook. */
export const telegramIngressRoutes =
  (deps: AppDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const runtime = createBotRuntime(deps.db);
    app.post('/telegram/webhook/:botId', {
      config: access.public,
      schema: { hide: true, params: z.object({ botId: z.string() }), body: z.unknown() },
      handler: async (request, reply) => {
        const header = request.headers['x-telegram-bot-api-secret-token'];
        const botId = z.uuid().safeParse(request.params.botId).success
          ? await runtime.webhookBot(
              request.params.botId,
              typeof header === 'string' ? header : undefined,
            )
          : null;
        if (!botId) throw new AppError('unauthorized', 'Wrong or missing secret token');
        const parsed = update.safeParse(request.body);
        if (!parsed.success) throw new AppError('bad_request', 'Not a Telegram update');
        await runtime.storeUpdates(botId, [parsed.data as TelegramUpdate]);
        return reply.status(200).send({ ok: true });
      },
    });
  };
