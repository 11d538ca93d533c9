import { and, count, eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { containing, pageOf, sortedBy } from '../../db/list-page.js';
import { botChats, bots, chats } from '../../db/schema.js';
import type { SortedListQuery } from '../../http/list.js';

export type ChatRow = typeof chats.$inferSelect;
export type ChatLink = { botId: string; status: 'active' | 'inactive'; reason: string | null };
export type ChatWithLinks = ChatRow & { links: ChatLink[] };
export type ChatFilter = { type?: ChatRow['type'] | undefined; botId?: string | undefined };
/** The fields `GET …/chats?sort=` accepts. */
export const chatSortFields = [
  'title',
  'telegramChatId',
  'type',
  'status',
  'createdAt',
  'id',
] as const;
export type ChatListQuery = SortedListQuery<typeof chatSortFields> & ChatFilter;

async function withLinks(db: Executor, rows: ChatRow[]): Promise<ChatWithLinks[]> {
  if (!rows.length) return [];
  const links = await db
    .select({
      chatId: botChats.chatId,
      botId: botChats.botId,
      status: botChats.status,
      reason: botChats.reason,
    })
    .from(botChats)
    .where(
      inArray(
        botChats.chatId,
        rows.map((r) => r.id),
      ),
    );
  return rows.map((r) => ({
    ...r,
    links: links
      .filter((l) => l.chatId === r.id)
      .map(({ botId, status, reason }) => ({ botId, status, reason })),
  }));
}

export const chatRepository = {
  /**
   * One page of the org's chats with the filters: `q` finds a title containing it
   * (case-insensitive, taken literally), sorted by `sort` (default `createdAt`; untitled chats
   * last) in `order`, ties by id. `total` counts every match.
   */
  async list(db: Executor, orgId: string, query: ChatListQuery) {
    const where = and(
      eq(chats.orgId, orgId),
      query.type ? eq(chats.type, query.type) : undefined,
      query.botId
        ? sql`exists (select 1 from bot_chats bc where bc.chat_id = ${chats.id} and bc.bot_id = ${query.botId})`
        : undefined,
      containing(chats.title, query.q),
    );
    const sort = query.sort ?? 'createdAt';
    const page = await pageOf(
      db
        .select()
        .from(chats)
        .where(where)
        .orderBy(...sortedBy(chats[sort], query.order, chats.id, { nullable: sort === 'title' }))
        .limit(query.limit)
        .offset(query.offset),
      db.select({ n: count() }).from(chats).where(where),
    );
    return { items: await withLinks(db, page.items), total: page.total };
  },
  async get(db: Executor, orgId: string, id: string) {
    const [row] = await db
      .select()
      .from(chats)
      .where(and(eq(chats.orgId, orgId), eq(chats.id, id)));
    return row ? (await withLinks(db, [row]))[0]! : null;
  },
  async byTelegramId(db: Executor, orgId: string, telegramChatId: number) {
    const [row] = await db
      .select()
      .from(chats)
      .where(and(eq(chats.orgId, orgId), eq(chats.telegramChatId, telegramChatId)));
    return row ?? null;
  },
  async insert(db: Executor, orgId: string, values: Omit<typeof chats.$inferInsert, 'orgId'>) {
    const [row] = await db
      .insert(chats)
      .values({ ...values, orgId })
      .returning();
    return row!;
  },
  async update(db: Executor, orgId: string, id: string, values: Partial<ChatRow>) {
    const [row] = await db
      .update(chats)
      .set({ ...values, updatedAt: new Date() })
      .where(and(eq(chats.orgId, orgId), eq(chats.id, id)))
      .returning();
    return row ?? null;
  },
  async remove(db: Executor, orgId: string, id: string) {
    const [row] = await db
      .delete(chats)
      .where(and(eq(chats.orgId, orgId), eq(chats.id, id)))
      .returning();
    return row ?? null;
  },
  /** The org's bots among ids (to refuse another org's bot ids). */
  async orgBotIds(db: Executor, orgId: string, ids: string[]) {
    if (!ids.length) return [];
    const rows = await db
      .select({ id: bots.id })
      .from(bots)
      .where(and(eq(bots.orgId, orgId), inArray(bots.id, ids)));
    return rows.map((r) => r.id);
  },
  /** Makes the chat's links exactly botIds (new ones active, kept ones untouched). */
  async setLinks(db: Executor, orgId: string, chatId: string, botIds: string[]) {
    await db
      .delete(botChats)
      .where(
        and(
          eq(botChats.chatId, chatId),
          botIds.length ? sql`${botChats.botId} <> all(${sql.param(botIds)}::uuid[])` : undefined,
        ),
      );
    if (botIds.length)
      await db
        .insert(botChats)
        .values(botIds.map((botId) => ({ orgId, botId, chatId })))
        .onConflictDoNothing();
  },
  /** One bot's view of a chat: active when it is there, inactive when removed/blocked. */
  async setLink(
    db: Executor,
    orgId: string,
    botId: string,
    chatId: string,
    status: 'active' | 'inactive',
    reason: string | null,
  ) {
    await db
      .insert(botChats)
      .values({ orgId, botId, chatId, status, reason })
      .onConflictDoUpdate({
        target: [botChats.botId, botChats.chatId],
        set: { status, reason, updatedAt: new Date() },
      });
  },
  /** A chat is active while at least one bot can reach it. */
  async refreshStatus(db: Executor, chatId: string) {
    await db.execute(sql`
      update chats set status = case when exists (
        select 1 from bot_chats where chat_id = ${chatId} and status = 'active') then 'active' else 'inactive' end,
        updated_at = now()
      where id = ${chatId}`);
  },
};
