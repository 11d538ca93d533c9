import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import type { TestApp } from '../../test/app.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { startFakeTelegram, type FakeTelegram } from '../../test/fake-telegram/server.js';
import { createListeningTestApp } from '../../test/listening-app.js';
import { startTestSupervisor, supervisedBotInGroups } from '../../test/supervisor-kit.js';
import { startTcpProxy } from '../../test/tcp-proxy.js';
import { eventually } from '../../test/wait.js';
import { deliveries } from '../db/schema.js';
import type { Supervisor } from './supervisor.js';

// Real runner processes under the real supervisor, reaching the api (2 s delivery lease)
// through a proxy the test cuts: the api restarting while the runner keeps sending.
let t: TestApp;
let fake: FakeTelegram;
let owner: SignedUp;
let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
let supervisor: Supervisor;

beforeAll(async () => {
  fake = await startFakeTelegram({ port: 0 });
  let address: string;
  ({ t, address } = await createListeningTestApp({
    TELEGRAM_API_ROOT: fake.apiRoot,
    DELIVERY_LEASE_SECONDS: '2',
  }));
  proxy = await startTcpProxy(address);
  owner = await signup(t);
  supervisor = await startTestSupervisor(t, proxy.address, fake.apiRoot);
}, 30_000);
afterAll(async () => {
  await supervisor?.stop();
  await proxy?.close();
  await t?.close();
  await fake?.close();
}, 30_000);

const api = (method: 'GET' | 'POST', url: string, payload?: object) =>
  t.request({ method, url: `/api/v1/orgs/${owner.orgId}${url}`, token: owner.token, payload });

describe('the api away for longer than a lease while its runner sends', () => {
  it('sends every message once: the reports wait for the api, the leases that ran out are not sent again', async () => {
    const {
      tg,
      botId,
      telegramChatIds: groups,
      chatIds,
    } = await supervisedBotInGroups(t, owner, fake, { name: 'outage', groups: 2 });

    // 8 per group go at about 1/s per chat after a burst of 3: the cut falls mid-stream.
    const texts = Array.from({ length: 8 }, (_, i) => `m${i}`);
    for (const text of texts)
      expect((await api('POST', '/notifications', { text, chatIds })).statusCode).toBe(202);
    await fake.waitForMessages(4, { token: tg.token, timeoutMs: 20_000 });
    const statuses = async () =>
      (
        await t.deps.db
          .select({ status: deliveries.status })
          .from(deliveries)
          .where(eq(deliveries.botId, botId))
      ).map((r) => r.status);
    const sentRows = async () => (await statuses()).filter((s) => s === 'sent').length;
    proxy.cut();
    // (a report the api had read before the cut commits within a moment)
    await new Promise((r) => setTimeout(r, 200));
    const reportedAtCut = await sentRows();
    // Twice the lease: every lease of what the runner holds runs out meanwhile.
    await new Promise((r) => setTimeout(r, 3_800));
    // Nothing reached the api meanwhile: each chat's last send waits for its report.
    expect(await sentRows()).toBe(reportedAtCut);
    proxy.restore();

    await eventually(
      async () => {
        const all = await statuses();
        return all.length === 16 && all.every((s) => s === 'sent');
      },
      { ms: 60_000 },
    );
    // Nothing more arrives once all are sent (a re-sent one would come within a second or two).
    await new Promise((r) => setTimeout(r, 3_000));
    for (const chat of groups)
      expect(fake.messages({ chatId: chat, token: tg.token }).map((m) => m.text)).toEqual(texts);
  }, 90_000);
});
