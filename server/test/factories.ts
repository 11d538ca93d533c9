import { randomBytes, randomInt } from 'node:crypto';
import { hashToken } from '../src/crypto/secrets.js';
import { botChats, bots, chats, type Role } from '../src/db/schema.js';
import type { TestApp } from './app.js';

const unique = () => randomBytes(4).toString('hex');
/** Telegram ids no two factory rows of one test file share (random start, then counting up). */
let telegramIds = randomInt(1_000_000_000, 2_000_000_000);

export type SignedUp = {
  token: string;
  userId: string;
  orgId: string;
  email: string;
  password: string;
};

/** Signs a new user up through the API (they own a new organization). */
export async function signup(
  t: TestApp,
  overrides: Partial<{
    email: string;
    password: string;
    name: string;
    organizationName: string;
  }> = {},
): Promise<SignedUp> {
  const body = {
    email: `user-${unique()}@example.test`,
    password: 'correct horse battery',
    name: 'Test User',
    organizationName: `Org ${unique()}`,
    ...overrides,
  };
  const res = await t.request({ method: 'POST', url: '/api/v1/auth/signup', payload: body });
  if (res.statusCode !== 201) throw new Error(`signup failed: ${res.statusCode} ${res.body}`);
  const json = res.json();
  return {
    token: json.token,
    userId: json.user.id,
    orgId: json.organization.id,
    email: body.email,
    password: body.password,
  };
}

/** Adds a member with a role to an org and logs them in; returns their session token. */
export async function addMember(
  t: TestApp,
  owner: SignedUp,
  role: Role,
): Promise<{ token: string; userId: string; email: string }> {
  const email = `${role}-${unique()}@example.test`;
  const password = 'member password 123';
  const res = await t.request({
    method: 'POST',
    url: `/api/v1/orgs/${owner.orgId}/members`,
    token: owner.token,
    payload: { email, name: role, role, password },
  });
  if (res.statusCode !== 201) throw new Error(`add member failed: ${res.statusCode} ${res.body}`);
  const login = await t.request({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email, password },
  });
  return { token: login.json().token, userId: res.json().userId, email };
}

/** Creates an org API key with a role. */
export async function createApiKey(
  t: TestApp,
  owner: SignedUp,
  role: Role,
): Promise<{ id: string; key: string }> {
  const res = await t.request({
    method: 'POST',
    url: `/api/v1/orgs/${owner.orgId}/api-keys`,
    token: owner.token,
    payload: { name: `${role} key`, role },
  });
  if (res.statusCode !== 201)
    throw new Error(`create api key failed: ${res.statusCode} ${res.body}`);
  return res.json();
}

export type BotRow = typeof bots.$inferSelect;
export type ChatRow = typeof chats.$inferSelect;
type Db = Pick<TestApp, 'deps'>;

/** Inserts a bot row (status 'running', a unique Telegram id, `token` encrypted; `runnerToken` → its hash). */
export async function insertBot(
  t: Db,
  orgId: string,
  {
    token,
    runnerToken,
    ...overrides
  }: Partial<Omit<typeof bots.$inferInsert, 'orgId'>> & {
    token?: string;
    runnerToken?: string;
  } = {},
): Promise<BotRow> {
  const telegramId = overrides.telegramId ?? telegramIds++;
  const plain = token ?? `${telegramId}:AAA`;
  const [bot] = await t.deps.db
    .insert(bots)
    .values({
      orgId,
      name: 'bot',
      telegramId,
      tokenEncrypted: t.deps.secrets.encrypt(plain),
      tokenHint: plain.slice(-3),
      status: 'running',
      ...(runnerToken ? { runnerTokenHash: hashToken(runnerToken) } : {}),
      ...overrides,
    })
    .returning();
  return bot!;
}

/** Links a bot to chats (bot_chats rows, active). */
export async function linkBotChats(
  t: Db,
  orgId: string,
  botId: string,
  chatIds: string[],
): Promise<void> {
  if (chatIds.length)
    await t.deps.db.insert(botChats).values(chatIds.map((chatId) => ({ orgId, botId, chatId })));
}

/** Inserts `count` group chats (or one chat per spec, group unless its type says otherwise) with unique Telegram ids, linked to `botIds`; returns the rows in order. */
export async function insertChats(
  t: Db,
  orgId: string,
  specs: number | Array<Partial<Omit<typeof chats.$inferInsert, 'orgId'>>>,
  { botIds = [] }: { botIds?: string[] } = {},
): Promise<ChatRow[]> {
  const list = typeof specs === 'number' ? Array.from({ length: specs }, () => ({})) : specs;
  if (!list.length) return [];
  const rows = await t.deps.db
    .insert(chats)
    .values(
      list.map((spec) => ({
        orgId,
        type: 'group' as const,
        telegramChatId: -telegramIds++,
        ...spec,
      })),
    )
    .returning();
  for (const botId of botIds)
    await linkBotChats(
      t,
      orgId,
      botId,
      rows.map((r) => r.id),
    );
  return rows;
}
