import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { AppDeps } from '../../app.js';
import { hashToken, secretHint } from '../../crypto/secrets.js';
import type { Executor } from '../../db/client.js';
import { AppError, badRequest, conflict, notFound } from '../../errors.js';
import type { Actor } from '../../http/access.js';
import { classifyTelegramError, createBotApi, idempotentCall } from '../../telegram/bot-api.js';
import { auditRepository } from '../audit/repository.js';
import { deliveriesChannel } from '../notifications/service.js';
import { botRepository, type BotRow } from './repository.js';
import type { CreateBotInput, UpdateBotInput } from './schema.js';

/** What Telegram should push to a webhook-mode bot (and a polling runner asks for). */
export const allowedUpdates = [
  'message',
  'edited_message',
  'channel_post',
  'my_chat_member',
] as const;

export const webhookPath = (botId: string) => `/telegram/webhook/${botId}`;

/** The bot as the API shows it: never the token, only its hint. */
export function presentBot(row: BotRow) {
  const { tokenEncrypted: _t, webhookSecret: _w, runnerTokenHash: _r, ...rest } = row;
  return rest;
}

export function createBotService(deps: Pick<AppDeps, 'db' | 'secrets' | 'config' | 'log'>) {
  const { db, secrets, config } = deps;
  const api = (token: string) => createBotApi(token, config.telegramApiRoot);

  /** getMe: a bad token is the caller's 400, with Telegram's own words. */
  async function verifyToken(token: string) {
    try {
      return await idempotentCall(() => api(token).getMe());
    } catch (err) {
      const f = classifyTelegramError(err);
      if (f.kind === 'api')
        throw badRequest(`Telegram rejected the token: ${f.description}`, [
          { path: 'token', message: f.description },
        ]);
      throw new AppError('unavailable', `Telegram could not be reached: ${f.description}`);
    }
  }

  /** Registers PUBLIC_URL/telegram/webhook/{id} with a fresh secret, or removes the webhook. */
  async function applyMode(row: BotRow, token: string, mode: 'polling' | 'webhook') {
    try {
      if (mode === 'webhook') {
        const secret = randomBytes(32).toString('base64url');
        await idempotentCall(() =>
          api(token).setWebhook(`${config.publicUrl}${webhookPath(row.id)}`, {
            secret_token: secret,
            allowed_updates: [...allowedUpdates],
          }),
        );
        return hashToken(secret);
      }
      await idempotentCall(() => api(token).deleteWebhook());
      return null;
    } catch (err) {
      const f = classifyTelegramError(err);
      if (f.kind === 'api') throw badRequest(`Telegram refused the ${mode} mode: ${f.description}`);
      throw new AppError('unavailable', `Telegram could not be reached: ${f.description}`);
    }
  }

  /** A bot imported without its token (an empty sealed token) runs once it has one. */
  const noToken = () =>
    badRequest('This bot has no token yet: set its token first', [
      { path: 'token', message: 'The bot was imported without its token' },
    ]);

  async function mustGet(tx: Executor, orgId: string, id: string) {
    const row = await botRepository.get(tx, orgId, id);
    if (!row) throw notFound('Bot');
    return row;
  }

  async function assertUnregistered(tx: Executor, telegramId: number, exceptId?: string) {
    const taken = await tx.execute(
      sql`select org_id from bots where telegram_id = ${telegramId} and id is distinct from ${exceptId ?? null}`,
    );
    if (taken.rows.length) throw conflict('This Telegram bot is already registered');
  }

  return {
    list: (orgId: string) => botRepository.list(db, orgId),
    get: (orgId: string, id: string) => mustGet(db, orgId, id),

    async create(orgId: string, actor: Actor, input: CreateBotInput) {
      const me = await verifyToken(input.token);
      await assertUnregistered(db, me.id);
      return db.transaction(async (tx) => {
        let row = await botRepository.insert(tx, orgId, {
          name: input.name,
          username: me.username,
          telegramId: me.id,
          tokenEncrypted: secrets.encrypt(input.token),
          tokenHint: secretHint(input.token),
          mode: input.mode,
          enabled: input.enabled,
          status: input.enabled ? 'starting' : 'stopped',
        });
        if (input.mode === 'webhook') {
          const webhookSecret = await applyMode(row, input.token, 'webhook');
          row = (await botRepository.update(tx, orgId, row.id, { webhookSecret }))!;
        }
        await auditRepository.record(tx, orgId, actor, {
          action: 'bot.create',
          targetType: 'bot',
          targetId: row.id,
          after: presentBot(row),
        });
        return row;
      });
    },

    async update(orgId: string, actor: Actor, id: string, input: UpdateBotInput) {
      return db.transaction(async (tx) => {
        const before = await mustGet(tx, orgId, id);
        await tx.execute(sql`select 1 from bots where id = ${id} for update`);
        const values: Parameters<typeof botRepository.update>[3] = {};
        let token = secrets.decrypt(before.tokenEncrypted);
        if (input.token !== undefined && input.token !== token) {
          const me = await verifyToken(input.token);
          if (me.id !== before.telegramId)
            throw badRequest('This token belongs to another Telegram bot', [
              { path: 'token', message: `The token is for @${me.username}, not this bot` },
            ]);
          token = input.token;
          Object.assign(values, {
            tokenEncrypted: secrets.encrypt(token),
            tokenHint: secretHint(token),
            username: me.username,
            lastError: null,
          });
        }
        if (input.name !== undefined) values.name = input.name;
        const mode = input.mode ?? before.mode;
        if (input.mode !== undefined && (input.mode !== before.mode || values.tokenEncrypted)) {
          values.mode = mode;
          values.webhookSecret = await applyMode(before, token, mode);
        } else if (values.tokenEncrypted && mode === 'webhook') {
          values.webhookSecret = await applyMode(before, token, mode);
        }
        if (input.enabled && token === '') throw noToken();
        if (input.enabled !== undefined && input.enabled !== before.enabled) {
          values.enabled = input.enabled;
          values.status = input.enabled ? 'starting' : 'stopped';
        }
        const restart = !!(values.tokenEncrypted || values.mode);
        if (restart && (values.enabled ?? before.enabled)) values.status = 'starting';
        const row = (await botRepository.update(tx, orgId, id, values, { restart }))!;
        await auditRepository.record(tx, orgId, actor, {
          action: 'bot.update',
          targetType: 'bot',
          targetId: id,
          before: presentBot(before),
          after: presentBot(row),
        });
        return row;
      });
    },

    async remove(orgId: string, actor: Actor, id: string) {
      const row = await db.transaction(async (tx) => {
        const row = await mustGet(tx, orgId, id);
        // Queued work moves to another active bot of the chat; with none left it fails visibly.
        const moved = await tx.execute(sql`
          update deliveries d set bot_id = (
            select bc.bot_id from bot_chats bc join bots b on b.id = bc.bot_id
            where bc.chat_id = d.chat_id and bc.status = 'active' and b.enabled and b.id <> ${id}
            order by (b.status = 'running') desc limit 1)
          where d.bot_id = ${id} and d.status in ('queued', 'sending')
          returning d.bot_id`);
        await tx.execute(sql`
          update deliveries set status = 'failed', last_error = 'Its bot was deleted and no other bot serves the chat',
            lease_expires_at = null, updated_at = now()
          where bot_id is null and status in ('queued', 'sending') and org_id = ${orgId}`);
        for (const other of new Set(moved.rows.map((r) => (r as { bot_id: string | null }).bot_id)))
          if (other) await tx.execute(sql`select pg_notify(${deliveriesChannel}, ${other})`);
        await botRepository.remove(tx, orgId, id);
        await auditRepository.record(tx, orgId, actor, {
          action: 'bot.delete',
          targetType: 'bot',
          targetId: id,
          before: presentBot(row),
        });
        return row;
      });
      if (row.mode === 'webhook')
        await api(secrets.decrypt(row.tokenEncrypted))
          .deleteWebhook()
          .catch(() => {});
    },

    /** start/stop/restart: what the supervisor is asked to do, recorded in the bot row. */
    async control(orgId: string, actor: Actor, id: string, action: 'start' | 'stop' | 'restart') {
      return db.transaction(async (tx) => {
        const before = await mustGet(tx, orgId, id);
        if (action !== 'stop' && secrets.decrypt(before.tokenEncrypted) === '') throw noToken();
        const values =
          action === 'stop'
            ? { enabled: false, status: 'stopped' as const }
            : { enabled: true, status: 'starting' as const, lastError: null };
        const row = (await botRepository.update(tx, orgId, id, values, {
          restart: action === 'restart' || (action === 'start' && before.status === 'error'),
        }))!;
        await auditRepository.record(tx, orgId, actor, {
          action: `bot.${action}`,
          targetType: 'bot',
          targetId: id,
          before: { enabled: before.enabled, status: before.status },
          after: { enabled: row.enabled, status: row.status },
        });
        return row;
      });
    },
  };
}
export type BotService = ReturnType<typeof createBotService>;
