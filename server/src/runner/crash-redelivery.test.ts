import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import type { TestApp } from '../../test/app.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { startFakeTelegram, type FakeTelegram } from '../../test/fake-telegram/server.js';
import { createListeningTestApp } from '../../test/listening-app.js';
import { startTestSupervisor, supervisedBotInGroups } from '../../test/supervisor-kit.js';
import { eventually } from '../../test/wait.js';
import { deliveries } from '../db/schema.js';
import type { Supervisor } from './supervisor.js';

// Real runner processes under the real supervisor (process driver), the api on a port with a
// 2 s delivery lease, the fake Telegram with its real limits.
let t: TestApp;
let fake: FakeTelegram;
let owner: SignedUp;
let supervisor: Supervisor;

beforeAll(async () => {
  fake = await startFakeTelegram({ port: 0 });
  let address: string;
  ({ t, address } = await createListeningTestApp({
    TELEGRAM_API_ROOT: fake.apiRoot,
    DELIVERY_LEASE_SECONDS: '2',
  }));
  owner = await signup(t);
  supervisor = await startTestSupervisor(t, address, fake.apiRoot);
}, 30_000);
afterAll(async () => {
  await supervisor?.stop();
  await t?.close();
  await fake?.close();
}, 30_000);

const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
  t.request({ method, url: `/api/v1/orgs/${owner.orgId}${url}`, token: owner.token, payload });

describe('a runner killed with SIGKILL mid-batch', () => {
  it('leaves nothing unsent: the next runner re-claims after the lease, at most the one in flight per chat twice', async () => {
    const {
      tg,
      botId,
      telegramChatIds: groups,
      chatIds,
    } = await supervisedBotInGroups(t, owner, fake, { name: 'crash', groups: 4 });

    // 10 per group: 3 at once, then 1/s each (Telegram's per-chat limit) — about 8 s in all.
    const texts = Array.from({ length: 10 }, (_, i) => `m${i}`);
    for (const text of texts)
      expect((await api('POST', '/notifications', { text, chatIds })).statusCode).toBe(202);
    const first = Number(supervisor.handleOf(botId)!.id);
    await fake.waitForMessages(20, { token: tg.token, timeoutMs: 20_000 });
    process.kill(first, 'SIGKILL');
    const sentAtKill = fake.messages({ token: tg.token }).length;
    expect(sentAtKill).toBeLessThan(40);
    // Claimed by the dead runner and not reported: only its lease can free them.
    const held = await t.deps.db
      .select({ n: sql<number>`count(*)::int` })
      .from(deliveries)
      .where(eq(deliveries.status, 'sending'));
    expect(held[0]!.n).toBeGreaterThan(0);

    await eventually(() => {
      const h = supervisor.handleOf(botId);
      return h && Number(h.id) !== first;
    });
    await eventually(
      async () => {
        const rows = await t.deps.db
          .select({ status: deliveries.status })
          .from(deliveries)
          .where(eq(deliveries.botId, botId));
        return rows.length === 40 && rows.every((r) => r.status === 'sent');
      },
      { ms: 60_000 },
    );

    // Whatever the runner still holds would go within a second or two (1/s per chat): wait
    // until nothing more arrives for 3 s before counting.
    let last = -1;
    await eventually(
      async () => {
        const n = fake.messages({ token: tg.token }).length;
        if (n === last) return true;
        last = n;
        await new Promise((r) => setTimeout(r, 3_000));
        return false;
      },
      { ms: 60_000 },
    );
    for (const chat of groups) {
      const got = fake.messages({ chatId: chat, token: tg.token }).map((m) => m.text);
      // Every text arrived, in order once duplicates are dropped…
      expect([...new Set(got)]).toEqual(texts);
      // …and at most one was sent twice: the one in flight when the runner died.
      expect(got.length - new Set(got).size).toBeLessThanOrEqual(1);
    }
  }, 90_000);
});
