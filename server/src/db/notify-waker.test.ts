import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { createTestApp, type TestApp } from '../../test/app.js';
import { startDeliveryKit, type DeliveryKit } from '../../test/delivery-kit.js';
import { signup, type SignedUp } from '../../test/factories.js';
import { NotifyWaker } from './notify-waker.js';

let t: TestApp;
let owner: SignedUp;
let kit: DeliveryKit;

beforeAll(async () => {
  t = await createTestApp();
  owner = await signup(t);
  kit = await startDeliveryKit(t, owner.orgId, { chats: 1 });
}, 30_000);
afterAll(async () => {
  await kit?.close();
  await t?.close();
});

async function eventually<T>(fn: () => Promise<T | undefined | null | false>, ms = 15_000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
/** Backends of this test's database currently LISTENing on the channel. */
const listeners = async (channel: string) =>
  (
    await t.deps.db.execute(sql`
      select pid from pg_stat_activity
      where datname = current_database() and query = ${`LISTEN ${channel}`} and pid <> pg_backend_pid()`)
  ).rows.map((r) => Number((r as { pid: number }).pid));
const terminate = (pids: number[]) =>
  t.deps.db.execute(sql`select pg_terminate_backend(p) from unnest(${sql.param(pids)}::int[]) p`);

describe('NotifyWaker', () => {
  it('wakes its waiters when the LISTEN connection is killed, and listens again on a new one', async () => {
    const waker = new NotifyWaker(t.database.url, 'np_waker_test');
    try {
      const signal = { aborted: false };
      await waker.wait('k', 1, signal); // connects
      const [first] = await eventually(async () => {
        const l = await listeners('np_waker_test');
        return l.length === 1 && l;
      });
      // A long wait, far longer than this test may take: only the drop can end it.
      const waiting = waker.wait('k', 600_000, signal);
      await terminate([first!]);
      await waiting;
      expect(waker.reconnects).toBe(1);
      const [second] = await eventually(async () => {
        const l = await listeners('np_waker_test');
        return l.length === 1 && l[0] !== first && l;
      });
      expect(second).not.toBe(first);
      // The new connection hears NOTIFY again: this wait ends by it, not by its timer.
      const woken = waker.wait('k', 600_000, signal);
      await eventually(async () => {
        await t.deps.db.execute(sql`select pg_notify('np_waker_test', 'k')`);
        return Promise.race([
          woken.then(() => true),
          new Promise<false>((r) => setTimeout(() => r(false), 100)),
        ]);
      });
    } finally {
      await waker.close();
    }
  });

  it('a NOTIFY heard after mark() (while the caller looked at the table) ends the next wait at once', async () => {
    const waker = new NotifyWaker(t.database.url, 'np_waker_mark');
    try {
      const signal = { aborted: false };
      await waker.wait('k', 1, signal); // connects
      const mark = waker.mark('k');
      const other = waker.mark('other');
      // the caller's claim runs here; the NOTIFY arrives before it waits
      await t.deps.db.execute(sql`select pg_notify('np_waker_mark', 'k')`);
      await eventually(async () => waker.mark('k') !== mark);
      // A wait far longer than this test may take: only the earlier wake-up can end it.
      await waker.wait('k', 600_000, signal, mark);
      expect(waker.mark('other')).toBe(other); // another key's wait is not cut short
      const late = await Promise.race([
        waker.wait('other', 600_000, signal, other).then(() => 'woken'),
        new Promise<string>((r) => setTimeout(() => r('still waiting'), 200)),
      ]);
      expect(late).toBe('still waiting');
    } finally {
      await waker.close();
    }
  });

  it("delivers a new notification after the api's LISTEN connection was terminated", async () => {
    const post = (text: string) =>
      t.request({
        method: 'POST',
        url: `/api/v1/orgs/${owner.orgId}/notifications`,
        token: owner.token,
        payload: { text, chatIds: [kit.chatIds[0]] },
      });
    expect((await post('before')).statusCode).toBe(202);
    await kit.fake.waitForMessages(1, { chatId: kit.telegramChatIds[0]!, timeoutMs: 10_000 });
    const [pid] = await eventually(async () => {
      const l = await listeners('np_deliveries');
      return l.length === 1 && l;
    });
    await terminate([pid!]);
    expect((await post('after the drop')).statusCode).toBe(202);
    await kit.fake.waitForMessages(2, { chatId: kit.telegramChatIds[0]!, timeoutMs: 10_000 });
    const texts = kit.fake.messages({ chatId: kit.telegramChatIds[0]! }).map((m) => m.text);
    expect(texts).toEqual(['before', 'after the drop']);
    // And the api listens again, on a new connection.
    await eventually(async () => {
      const l = await listeners('np_deliveries');
      return l.length === 1 && l[0] !== pid;
    });
  });
});

describe('NotifyWaker.poll', () => {
  it('does not look again for a caller that went away while it waited', async () => {
    const waker = new NotifyWaker(t.database.url, 'np_waker_poll_test');
    try {
      const listeners: Array<() => void> = [];
      const raw = {
        writableFinished: false,
        on: (_: 'close', fn: () => void) => listeners.push(fn),
      };
      let looks = 0;
      const polling = waker.poll(
        'k',
        { waitMs: 30_000, recheckMs: 10_000, reply: { raw } },
        async () => {
          looks++;
          return [];
        },
      );
      await eventually(async () => looks === 1);
      for (const fn of listeners) fn(); // the client's socket closes mid-wait
      await waker.wait('k', 1, { aborted: false }); // connected: the NOTIFY below is heard
      await t.deps.db.execute(sql`select pg_notify('np_waker_poll_test', 'k')`);
      expect(await polling).toEqual([]);
      expect(looks).toBe(1);
    } finally {
      await waker.close();
    }
  });
});
