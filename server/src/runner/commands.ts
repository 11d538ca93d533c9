import { Composer, type Context } from 'grammy';
import type { ChatMemberUpdated } from 'grammy/types';
import type { RunnerApi, TelegramChat } from './internal-api.js';

type Lang = 'en' | 'ru';
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const code = (id: number) => `<code>${id}</code>`;

/** The bot's own words, in the language of the person who wrote to it. */
const texts = {
  en: {
    startPrivate: (id: number) =>
      `Hello! This is a NotifyPro bot. You are registered as a contact: notifications for you will arrive in this chat once an administrator adds it to a rule.\n\nYour chat id: ${code(id)}\nSee /help for commands.`,
    startGroup: (id: number) =>
      `NotifyPro is connected to this chat. Notifications will arrive here once an administrator adds it to a rule.\n\nChat id: ${code(id)}`,
    help: '<b>NotifyPro bot</b>\n/start — register this chat\n/id — this chat’s id\n/status — what this chat receives\n/help — this help',
    id: (id: number) => `Chat id: ${code(id)}`,
    unknown: 'This chat is not registered yet. Send /start to register it.',
    status: (title: string, active: boolean, rules: Array<{ name: string; enabled: boolean }>) =>
      `<b>${esc(title)}</b> — ${active ? 'active' : 'inactive'}\n` +
      (rules.length
        ? `Receives notifications from:\n${rules.map((r) => `• ${esc(r.name)}${r.enabled ? '' : ' (paused)'}`).join('\n')}`
        : 'No rule sends to this chat yet.'),
  },
  ru: {
    startPrivate: (id: number) =>
      `Здравствуйте! Это бот NotifyPro. Вы зарегистрированы как контакт: уведомления будут приходить в этот чат, когда администратор добавит его в правило.\n\nВаш id чата: ${code(id)}\nКоманды: /help`,
    startGroup: (id: number) =>
      `NotifyPro подключён к этому чату. Уведомления будут приходить сюда, когда администратор добавит его в правило.\n\nId чата: ${code(id)}`,
    help: '<b>Бот NotifyPro</b>\n/start — зарегистрировать этот чат\n/id — id этого чата\n/status — какие уведомления получает чат\n/help — эта справка',
    id: (id: number) => `Id чата: ${code(id)}`,
    unknown: 'Этот чат ещё не зарегистрирован. Отправьте /start, чтобы зарегистрировать его.',
    status: (title: string, active: boolean, rules: Array<{ name: string; enabled: boolean }>) =>
      `<b>${esc(title)}</b> — ${active ? 'активен' : 'неактивен'}\n` +
      (rules.length
        ? `Получает уведомления по правилам:\n${rules.map((r) => `• ${esc(r.name)}${r.enabled ? '' : ' (на паузе)'}`).join('\n')}`
        : 'Пока ни одно правило не отправляет в этот чат.'),
  },
} satisfies Record<Lang, unknown>;

const langOf = (ctx: Context): Lang =>
  ctx.from?.language_code?.toLowerCase().startsWith('ru') ? 'ru' : 'en';

function asChat(c: NonNullable<Context['chat']>): TelegramChat {
  const chat = c as TelegramChat;
  return {
    id: chat.id,
    type: chat.type,
    title: chat.title,
    username: chat.username,
    first_name: chat.first_name,
    last_name: chat.last_name,
  };
}

/** What a membership change means for delivery: can the bot post there now, and if not why. */
export function membershipOf(u: ChatMemberUpdated): { active: boolean; reason: string | null } {
  const m = u.new_chat_member;
  if (m.status === 'member' || m.status === 'administrator' || m.status === 'creator')
    return { active: true, reason: null };
  if (m.status === 'restricted')
    return { active: m.is_member, reason: m.is_member ? null : 'left' };
  if (m.status === 'kicked')
    return { active: false, reason: u.chat.type === 'private' ? 'blocked by the user' : 'kicked' };
  return { active: false, reason: 'removed' };
}

/**
 * Chat discovery and the bot's commands. Every effect on NotifyPro's state goes through the
 * runner API; replies go to Telegram.
 */
export function botHandlers(api: RunnerApi) {
  const c = new Composer<Context>();
  /** Chats whose title the api already has: a busy group does not cost a call per message. */
  const known = new Map<number, string | undefined>();
  const seen = async (ctx: Context, extra: { language?: string | null } = {}) => {
    if (!ctx.chat) return;
    const chat = asChat(ctx.chat);
    await api.chatSeen({ chat, status: 'active', ...extra });
    known.set(chat.id, chat.title);
  };

  c.on('my_chat_member', async (ctx) => {
    const { active, reason } = membershipOf(ctx.myChatMember);
    await api.chatSeen({
      chat: asChat(ctx.chat),
      status: active ? 'active' : 'inactive',
      reason,
      language: ctx.chat.type === 'private' ? (ctx.from?.language_code ?? null) : null,
    });
    if (active) known.set(ctx.chat.id, ctx.chat.title);
    else known.delete(ctx.chat.id);
  });

  c.on('message:migrate_to_chat_id', async (ctx) => {
    await api.chatMigrated(ctx.chat.id, ctx.message.migrate_to_chat_id);
    known.delete(ctx.chat.id);
  });
  c.on('message:migrate_from_chat_id', async (ctx) => {
    await api.chatMigrated(ctx.message.migrate_from_chat_id, ctx.chat.id);
  });

  c.command('start', async (ctx) => {
    const language = ctx.from?.language_code ?? null;
    await seen(ctx, ctx.chat.type === 'private' ? { language } : {});
    const t = texts[langOf(ctx)];
    await ctx.reply(
      ctx.chat.type === 'private' ? t.startPrivate(ctx.chat.id) : t.startGroup(ctx.chat.id),
      {
        parse_mode: 'HTML',
      },
    );
  });
  c.command('help', (ctx) => ctx.reply(texts[langOf(ctx)].help, { parse_mode: 'HTML' }));
  c.command('id', (ctx) => ctx.reply(texts[langOf(ctx)].id(ctx.chat.id), { parse_mode: 'HTML' }));
  c.command('status', async (ctx) => {
    const t = texts[langOf(ctx)];
    const s = await api.chatSummary(ctx.chat.id);
    const title = s.title ?? ctx.chat.title ?? String(ctx.chat.id);
    await ctx.reply(s.known ? t.status(title, s.status === 'active', s.rules ?? []) : t.unknown, {
      parse_mode: 'HTML',
    });
  });

  // Any other message or post in a group or channel keeps its title current.
  c.on(['message', 'channel_post', 'edited_message'], async (ctx) => {
    if (!ctx.chat || ctx.chat.type === 'private') return;
    if (known.has(ctx.chat.id) && known.get(ctx.chat.id) === ctx.chat.title) return;
    await seen(ctx);
  });
  return c;
}
