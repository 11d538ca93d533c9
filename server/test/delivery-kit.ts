/**
 * The outbound half of NotifyPro wired in process, for tests and benchmarks of the inbound
 * half: a bot in the fake Telegram with a runner token, `chats` private chats linked to it,
 * the api listening on a port for the runner's internal API, and the runner's delivery loop
 * (startDeliveryLoop) sending to the fake Telegram.
 */
import { randomBytes } from 'node:crypto';
import { Api } from 'grammy';
import { rules } from '../src/db/schema.js';
import { createRunnerApi } from '../src/runner/internal-api.js';
import { startDeliveryLoop } from '../src/runner/sender.js';
import type { TestApp } from './app.js';
import { insertBot, insertChats } from './factories.js';
import { startFakeTelegram, type FakeTelegram } from './fake-telegram/server.js';

export type DeliveryKit = {
  fake: FakeTelegram;
  botId: string;
  /** NotifyPro chat ids and the fake Telegram's chat ids, index by index. */
  chatIds: string[];
  telegramChatIds: number[];
  /** A rule sending every mail's subject to chat `i` (only mail whose subject contains `match`, if given). */
  addRule(options?: { chat?: number; match?: string; template?: string }): Promise<string>;
  close(): Promise<void>;
};

const quiet = { warn: () => {}, error: () => {}, info: () => {} };

export async function startDeliveryKit(
  t: Pick<TestApp, 'app' | 'deps'>,
  orgId: string,
  options: {
    chats?: number;
    senderLimits?: Parameters<typeof startDeliveryLoop>[0]['limits'];
    renewFirstMs?: number;
  } = {},
): Promise<DeliveryKit> {
  const fake = await startFakeTelegram({ port: 0 });
  const runnerToken = `npr_kit_${randomBytes(12).toString('hex')}`;
  const tg = fake.addBot({});
  const bot = await insertBot(t, orgId, {
    name: 'kit bot',
    telegramId: tg.id,
    token: tg.token,
    tokenHint: 'kit',
    runnerToken,
  });
  const telegramChatIds: number[] = [];
  for (let i = 0; i < (options.chats ?? 1); i++) {
    const user = fake.addUser({});
    const chat = fake.addChat({
      id: user.id,
      type: 'private',
      firstName: `kit${i}`,
      botTokens: [tg.token],
    });
    telegramChatIds.push(chat.id);
  }
  const chatIds = (
    await insertChats(
      t,
      orgId,
      telegramChatIds.map((telegramChatId) => ({ telegramChatId, type: 'private' as const })),
      { botIds: [bot.id] },
    )
  ).map((c) => c.id);
  const address = t.app.server.listening
    ? `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`
    : await t.app.listen({ port: 0, host: '127.0.0.1' });
  const loop = startDeliveryLoop({
    internalApi: createRunnerApi(address.replace(/\/$/, ''), runnerToken),
    botApi: new Api(tg.token, { apiRoot: fake.apiRoot }),
    log: quiet,
    ...(options.senderLimits ? { limits: options.senderLimits } : {}),
    ...(options.renewFirstMs ? { renewFirstMs: options.renewFirstMs } : {}),
  });
  return {
    fake,
    botId: bot.id,
    chatIds,
    telegramChatIds,
    async addRule({ chat = 0, match, template = '{{subject}}' } = {}) {
      const [rule] = await t.deps.db
        .insert(rules)
        .values({
          orgId,
          name: `kit rule ${chat} ${match ?? ''}`,
          conditions: match ? [{ field: 'subject', op: 'contains', value: match }] : [],
          targets: [{ chatId: chatIds[chat]! }],
          template,
        })
        .returning();
      return rule!.id;
    },
    async close() {
      await loop.stop();
      await fake.close();
    },
  };
}
