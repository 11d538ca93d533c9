import { sql } from 'drizzle-orm';
import type { AppDeps } from '../../app.js';
import type { Executor } from '../../db/client.js';
import { badRequest, conflict, notFound } from '../../errors.js';
import type { Actor } from '../../http/access.js';
import { createBotApi, idempotentCall } from '../../telegram/bot-api.js';
import { auditRepository } from '../audit/repository.js';
import { logRepository } from '../logs/repository.js';
import { chatRepository, type ChatWithLinks } from './repository.js';
import type { TelegramChat } from './schema.js';
import type { z } from 'zod';
import type { createChatBody, updateChatBody } from './schema.js';

export const presentChat = (c: ChatWithLinks) => ({ ...c, botIds: c.links.map((l) => l.botId) });

const titleOf = (c: TelegramChat) =>
  c.title ?? ([c.first_name, c.last_name].filter(Boolean).join(' ') || null);

/** Without Telegram's word, a chat id's shape tells its kind: users > 0, -100… supergroups. */
const guessType = (id: number): TelegramChat['type'] =>
  id > 0 ? 'private' : id < -1_000_000_000_000 ? 'supergroup' : 'group';

export function createChatService(deps: Pick<AppDeps, 'db' | 'secrets' | 'config'>) {
  const { db } = deps;

  async function assertOrgBots(tx: Executor, orgId: string, botIds: string[]) {
    const found = await chatRepository.orgBotIds(tx, orgId, botIds);
    const missing = botIds.filter((b) => !found.includes(b));
    if (missing.length)
      throw badRequest(
        'Unknown bot',
        missing.map((b) => ({ path: 'botIds', message: `No bot ${b} in this organization` })),
      );
  }

  /** Asks Telegram (through the first bot) what the chat is; a bot not yet in it is no error. */
  async function describe(orgId: string, botId: string, telegramChatId: number) {
    const [bot] = (
      await db.execute(
        sql`select token_encrypted from bots where id = ${botId} and org_id = ${orgId}`,
      )
    ).rows as Array<{ token_encrypted: string }>;
    if (!bot) return null;
    try {
      const token = deps.secrets.decrypt(bot.token_encrypted);
      const api = createBotApi(token, deps.config.telegramApiRoot);
      return (await idempotentCall(() => api.getChat(telegramChatId))) as TelegramChat;
    } catch {
      return null;
    }
  }

  return {
    list: (orgId: string, query: Parameters<typeof chatRepository.list>[2]) =>
      chatRepository.list(db, orgId, query),
    async get(orgId: string, id: string) {
      const row = await chatRepository.get(db, orgId, id);
      if (!row) throw notFound('Chat');
      return row;
    },

    async create(orgId: string, actor: Actor, input: z.infer<typeof createChatBody>) {
      const botIds = [...new Set(input.botIds)];
      await assertOrgBots(db, orgId, botIds);
      const known = await describe(orgId, botIds[0]!, input.telegramChatId);
      return db.transaction(async (tx) => {
        if (await chatRepository.byTelegramId(tx, orgId, input.telegramChatId))
          throw conflict('This chat is already in the organization');
        const row = await chatRepository.insert(tx, orgId, {
          telegramChatId: input.telegramChatId,
          type: known?.type ?? guessType(input.telegramChatId),
          title: input.title ?? (known ? titleOf(known) : null),
          username: known?.username ?? null,
        });
        await chatRepository.setLinks(tx, orgId, row.id, botIds);
        await auditRepository.record(tx, orgId, actor, {
          action: 'chat.create',
          targetType: 'chat',
          targetId: row.id,
          after: { ...row, botIds },
        });
        return (await chatRepository.get(tx, orgId, row.id))!;
      });
    },

    async update(orgId: string, actor: Actor, id: string, input: z.infer<typeof updateChatBody>) {
      return db.transaction(async (tx) => {
        const before = await chatRepository.get(tx, orgId, id);
        if (!before) throw notFound('Chat');
        if (input.botIds) {
          const botIds = [...new Set(input.botIds)];
          await assertOrgBots(tx, orgId, botIds);
          await chatRepository.setLinks(tx, orgId, id, botIds);
        }
        const values: { title?: string; status?: 'active' | 'inactive' } = {};
        if (input.title !== undefined) values.title = input.title;
        if (input.status !== undefined) values.status = input.status;
        await chatRepository.update(tx, orgId, id, values);
        const after = (await chatRepository.get(tx, orgId, id))!;
        await auditRepository.record(tx, orgId, actor, {
          action: 'chat.update',
          targetType: 'chat',
          targetId: id,
          before: presentChat(before),
          after: presentChat(after),
        });
        return after;
      });
    },

    async remove(orgId: string, actor: Actor, id: string) {
      await db.transaction(async (tx) => {
        const row = await chatRepository.remove(tx, orgId, id);
        if (!row) throw notFound('Chat');
        await auditRepository.record(tx, orgId, actor, {
          action: 'chat.delete',
          targetType: 'chat',
          targetId: id,
          before: row,
        });
      });
    },

    /**
     * What a bot saw of a chat (its membership changed, a /start, a message in a group):
     * the chat joins the org or is updated, and this bot's link becomes active or inactive.
     */
    async recordSeen(
      orgId: string,
      botId: string,
      chat: TelegramChat,
      seen: { status: 'active' | 'inactive'; reason?: string | null; language?: string | null },
    ) {
      return db.transaction(async (tx) => {
        await tx.execute(
          sql`select pg_advisory_xact_lock(hashtext(${orgId}), ${chat.id % 2 ** 31})`,
        );
        let row = await chatRepository.byTelegramId(tx, orgId, chat.id);
        const created = !row;
        if (!row) {
          if (seen.status === 'inactive') return null;
          row = await chatRepository.insert(tx, orgId, {
            telegramChatId: chat.id,
            type: chat.type,
            title: titleOf(chat),
            username: chat.username ?? null,
            language: seen.language ?? null,
          });
        } else {
          await chatRepository.update(tx, orgId, row.id, {
            type: chat.type,
            title: titleOf(chat) ?? row.title,
            username: chat.username ?? row.username,
            ...(seen.language ? { language: seen.language } : {}),
          });
        }
        await chatRepository.setLink(tx, orgId, botId, row.id, seen.status, seen.reason ?? null);
        await chatRepository.refreshStatus(tx, row.id);
        if (created || seen.status === 'inactive')
          await logRepository.write(tx, orgId, {
            level: 'info',
            source: 'bot',
            message: created
              ? `Chat discovered: ${titleOf(chat) ?? chat.id} (${chat.type})`
              : `Chat ${titleOf(chat) ?? chat.id} is inactive for the bot: ${seen.reason ?? 'removed'}`,
            context: { botId, chatId: row.id, telegramChatId: chat.id },
          });
        return (await chatRepository.get(tx, orgId, row.id))!;
      });
    },

    /** A group became a supergroup: the same chat row takes the new id, so its rules keep working. */
    async migrate(orgId: string, botId: string, fromId: number, toId: number) {
      return db.transaction(async (tx) => {
        const old = await chatRepository.byTelegramId(tx, orgId, fromId);
        if (!old) return null;
        const dup = await chatRepository.byTelegramId(tx, orgId, toId);
        if (dup) {
          // The supergroup was already seen on its own: fold it into the original chat.
          await tx.execute(
            sql`update deliveries set chat_id = ${old.id} where chat_id = ${dup.id}`,
          );
          await tx.execute(sql`
            insert into bot_chats (org_id, bot_id, chat_id, status, reason)
            select org_id, bot_id, ${old.id}, status, reason from bot_chats where chat_id = ${dup.id}
            on conflict (bot_id, chat_id) do nothing`);
          await chatRepository.remove(tx, orgId, dup.id);
        }
        await chatRepository.update(tx, orgId, old.id, {
          telegramChatId: toId,
          type: 'supergroup',
        });
        await logRepository.write(tx, orgId, {
          level: 'info',
          source: 'bot',
          message: `Group ${old.title ?? fromId} became a supergroup; chat id ${fromId} → ${toId}`,
          context: { botId, chatId: old.id, from: fromId, to: toId },
        });
        return old.id;
      });
    },

    /** For /status: the chat as the org knows it, and the rules that send to it. */
    async summary(orgId: string, telegramChatId: number) {
      const chat = await chatRepository.byTelegramId(db, orgId, telegramChatId);
      if (!chat) return { known: false as const };
      const rules = (
        await db.execute(sql`
        select name, enabled from rules where org_id = ${orgId}
          and targets @> ${JSON.stringify([{ chatId: chat.id }])}::jsonb order by priority, name`)
      ).rows as Array<{ name: string; enabled: boolean }>;
      return {
        known: true as const,
        chatId: chat.id,
        status: chat.status,
        title: chat.title,
        rules: rules.map((r) => ({ name: r.name, enabled: r.enabled })),
      };
    },
  };
}
export type ChatService = ReturnType<typeof createChatService>;
