import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import type pg from 'pg';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { insertBot, insertChats, signup, type SignedUp } from '../../../test/factories.js';
import { claimStatement } from './runner-routes.js';

let t: TestApp;
let owner: SignedUp;
let chatIds: string[];
const runnerToken = 'npr_claim_test_runner_token_0123456789';

beforeAll(async () => {
  t = await createTestApp();
  owner = await signup(t);
  const bot = await insertBot(t, owner.orgId, { runnerToken });
  const cs = await insertChats(
    t,
    owner.orgId,
    [
      { telegramChatId: 71, type: 'private' },
      { telegramChatId: -72, type: 'group' },
    ],
    { botIds: [bot.id] },
  );
  chatIds = cs.map((c) => c.id);
}, 30_000);
afterAll(async () => {
  await t?.close();
});

const notify = (text: string, chat: string) =>
  t.request({
    method: 'POST',
    url: `/api/v1/orgs/${owner.orgId}/notifications`,
    token: owner.token,
    payload: { text, chatIds: [chat] },
  });
const claim = async (limit = 10) => {
  const res = await t.request({
    method: 'POST',
    url: '/internal/v1/deliveries/claim',
    token: runnerToken,
    payload: { limit, waitMs: 0 },
  });
  expect(res.statusCode).toBe(200);
  return res.json().deliveries as Array<{
    id: string;
    seq: number;
    text: string;
    telegramChatId: number;
    chatType: string;
    attempts: number;
    silent: boolean;
    attachments: unknown[];
    sentMessageIds: number[];
  }>;
};
const report = async (id: string) => {
  const res = await t.request({
    method: 'POST',
    url: `/internal/v1/deliveries/${id}/result`,
    token: runnerToken,
    payload: { outcome: 'sent', messageIds: [1] },
  });
  expect(res.json()).toEqual({ status: 'sent' });
};

describe('delivery claim statement', () => {
  it('leases in seq order up to the limit, with the chat and text of each, the next to a chat only after the one before', async () => {
    for (const [text, chat] of [
      ['c1', chatIds[0]!],
      ['c2', chatIds[1]!],
      ['c3', chatIds[0]!],
    ] as const)
      expect((await notify(text, chat)).statusCode).toBe(202);
    const first = await claim(2);
    expect(first.map((d) => d.text)).toEqual(['c1', 'c2']);
    expect(first[0]).toMatchObject({
      telegramChatId: 71,
      chatType: 'private',
      attempts: 1,
      silent: false,
      attachments: [],
      sentMessageIds: [],
    });
    expect(first[1]).toMatchObject({ telegramChatId: -72, chatType: 'group' });
    expect(first[0]!.seq).toBeLessThan(first[1]!.seq);
    // c3 waits behind c1 (same chat, leased), until c1 is done.
    expect(await claim()).toEqual([]);
    await report(first[0]!.id);
    const next = await claim();
    expect(next.map((d) => d.text)).toEqual(['c3']);
    await report(first[1]!.id);
    await report(next[0]!.id);
    expect(await claim()).toEqual([]);
  });

  it('runs as a named statement, parsed and planned once per pooled connection', async () => {
    await notify('named', chatIds[0]!);
    // More claims than the pool has connections: every connection used has it prepared once.
    for (let i = 0; i < 12; i++) await claim();
    const pool = (t.deps.db as typeof t.deps.db & { $client: pg.Pool }).$client;
    const clients = await Promise.all(
      Array.from({ length: pool.totalCount }, () => pool.connect()),
    );
    try {
      const prepared = await Promise.all(
        clients.map(async (c) => {
          const { rows } = await c.query<{ statement: string }>(
            'select statement from pg_prepared_statements where name = $1',
            [claimStatement.name],
          );
          return rows;
        }),
      );
      const withIt = prepared.filter((rows) => rows.length);
      expect(withIt.length).toBeGreaterThan(0);
      for (const rows of withIt) expect(rows).toEqual([{ statement: claimStatement.text }]);
    } finally {
      for (const c of clients) c.release();
    }
    // …and the claim it prepared still found the new delivery once.
    const { rows } = await t.deps.db.execute(
      sql`select attempts from deliveries d join notifications n on n.id = d.notification_id where n.text = 'named'`,
    );
    expect(rows).toEqual([{ attempts: 1 }]);
  });
});
