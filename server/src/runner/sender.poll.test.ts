import http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Api } from 'grammy';
import { startFakeTelegram, type FakeTelegram } from '../../test/fake-telegram/server.js';
import { InternalApiError } from './internal-api.js';
import { startDeliveryLoop, type ClaimedDelivery, type DeliveryResult } from './sender.js';

let fake: FakeTelegram;
beforeAll(async () => {
  fake = await startFakeTelegram({ port: 0 });
});
afterAll(async () => {
  await fake?.close();
});

const log = { warn: () => {}, error: () => {}, info: () => {} };

/** A bot of the fake Telegram and a private chat of a user with it. */
function botWithPrivateChat() {
  const tg = fake.addBot({});
  const chatId = fake.addChat({
    id: fake.addUser({}).id,
    type: 'private',
    firstName: 'p',
    botTokens: [tg.token],
  }).id;
  return { tg, chatId };
}

/** A delivery as the claim hands it out: `text` to a private chat, first attempt. */
const claimedTo = (chatId: number, id: string, seq: number, text = id): ClaimedDelivery => ({
  id,
  seq,
  telegramChatId: chatId,
  chatType: 'private',
  text,
  silent: false,
  disableLinkPreview: false,
  attempts: 1,
});

it('hands a claimed batch to the Bot API client before it starts the next long poll', async () => {
  const tg = fake.addBot({});
  const chats = [0, 1].map(
    (i) =>
      fake.addChat({
        id: fake.addUser({}).id,
        type: 'private',
        firstName: `p${i}`,
        botTokens: [tg.token],
      }).id,
  );
  const order: string[] = [];
  // The Bot API client's requests, in the order they are made (before any byte is written).
  type AddRequest = (req: http.ClientRequest, options: http.RequestOptions) => void;
  const agent = new http.Agent({ keepAlive: true });
  const withAdd = agent as unknown as { addRequest: AddRequest };
  const addRequest = withAdd.addRequest.bind(agent);
  withAdd.addRequest = (req, options) => {
    order.push(`request ${req.path.split('/').pop()}`);
    addRequest(req, options);
  };
  const batch: ClaimedDelivery[] = chats.map((telegramChatId, i) => ({
    id: `d${i}`,
    seq: i + 1,
    telegramChatId,
    chatType: 'private',
    text: `poll ${i}`,
    silent: false,
    disableLinkPreview: false,
    attempts: 1,
  }));
  let claims = 0;
  let release: () => void = () => {};
  const reported: Array<[string, DeliveryResult['outcome']]> = [];
  const loop = startDeliveryLoop({
    internalApi: {
      claim: async () => {
        order.push(`claim ${++claims}`);
        if (claims === 1) return batch;
        // Nothing more: a long poll that ends when the loop stops.
        await new Promise<void>((r) => (release = r));
        return [];
      },
      report: async (id, result) => {
        reported.push([id, result.outcome]);
      },
    },
    botApi: new Api(tg.token, { apiRoot: fake.apiRoot, baseFetchConfig: { agent } }),
    log,
  });
  try {
    await fake.waitForMessages(2, { token: tg.token });
    await expect.poll(() => reported.length).toBe(2);
    expect(order).toEqual(['claim 1', 'request sendMessage', 'request sendMessage', 'claim 2']);
    expect(reported).toEqual([
      ['d0', 'sent'],
      ['d1', 'sent'],
    ]);
  } finally {
    const stopping = loop.stop();
    release();
    await stopping;
    agent.destroy();
  }
});

/**
 * An internal API whose report of `id` answers only after the claim has handed that delivery
 * out again — what the api does when it re-queues a delivery and wakes the runner, whose long
 * poll can answer before the report's own response arrives.
 */
function racingApi(first: ClaimedDelivery, again: ClaimedDelivery, answer: string) {
  let claims = 0;
  let handed = false;
  let reclaimed: () => void = () => {};
  const handedOut = new Promise<void>((r) => (reclaimed = r));
  let release: () => void = () => {};
  const reported: Array<[string, DeliveryResult['outcome']]> = [];
  return {
    reported,
    release: () => release(),
    api: {
      claim: async () => {
        if (++claims === 1) return [first];
        if (reported.length && !handed) {
          handed = true;
          setImmediate(reclaimed);
          return [again];
        }
        await new Promise<void>((r) => (release = r));
        return [];
      },
      report: async (id: string, result: DeliveryResult) => {
        reported.push([id, result.outcome]);
        // The first report wakes the long poll, and answers once the claim had it again.
        if (reported.length === 1) {
          release();
          await handedOut;
          return { status: answer };
        }
        return { status: result.outcome === 'sent' ? 'sent' : 'queued' };
      },
    },
  };
}

it('a delivery claimed again before its report answered (a migrated group) is sent once the report is done', async () => {
  const tg = fake.addBot({});
  const group = fake.addChat({ type: 'group', title: 'g', botTokens: [tg.token] });
  const superId = fake.migrateGroupToSupergroup({ chatId: group.id });
  const d: ClaimedDelivery = {
    id: 'm1',
    seq: 1,
    telegramChatId: group.id,
    chatType: 'group',
    text: 'to the group',
    silent: false,
    disableLinkPreview: false,
    attempts: 1,
  };
  const race = racingApi(d, { ...d, telegramChatId: superId, chatType: 'supergroup' }, 'queued');
  const loop = startDeliveryLoop({
    internalApi: race.api,
    botApi: new Api(tg.token, { apiRoot: fake.apiRoot }),
    log,
  });
  try {
    await expect.poll(() => race.reported.length, { timeout: 5_000 }).toBe(2);
    expect(race.reported).toEqual([
      ['m1', 'migrated'],
      ['m1', 'sent'],
    ]);
    expect(fake.messages({ chatId: superId }).map((m) => m.plainText)).toEqual(['to the group']);
  } finally {
    const stopping = loop.stop();
    race.release();
    await stopping;
  }
});

it('a delivery claimed again while its report of sent was on its way (its lease ran out) is not sent twice', async () => {
  const { tg, chatId } = botWithPrivateChat();
  const d = claimedTo(chatId, 's1', 1, 'once');
  const race = racingApi(d, { ...d, attempts: 2 }, 'sent');
  const loop = startDeliveryLoop({
    internalApi: race.api,
    botApi: new Api(tg.token, { apiRoot: fake.apiRoot }),
    log,
  });
  try {
    await fake.waitForMessages(1, { token: tg.token });
    await expect.poll(() => race.reported.length).toBe(1);
    // The second claim has been answered and its turn is over: nothing more goes out.
    await new Promise((r) => setTimeout(r, 300));
    expect(race.reported).toEqual([['s1', 'sent']]);
    expect(fake.messages({ chatId }).map((m) => m.plainText)).toEqual(['once']);
  } finally {
    const stopping = loop.stop();
    race.release();
    await stopping;
  }
});

it('a report the api did not take (unreachable, 5xx) is retried until it is; a 4xx is not', async () => {
  const { tg, chatId } = botWithPrivateChat();
  const claimed = (id: string, seq: number) => claimedTo(chatId, id, seq, `text of ${id}`);
  const calls: string[] = [];
  let claims = 0;
  let release: () => void = () => {};
  const loop = startDeliveryLoop({
    internalApi: {
      claim: async () => {
        claims++;
        if (claims === 1) return [claimed('away', 1), claimed('gone', 2)];
        // The api is back: its lease ran out meanwhile, and the claim hands it out again.
        if (claims === 2) return [{ ...claimed('away', 1), attempts: 2 }];
        await new Promise<void>((r) => (release = r));
        return [];
      },
      report: async (id, result) => {
        calls.push(`${id} ${result.outcome}`);
        const tries = calls.filter((c) => c.startsWith(id)).length;
        if (id === 'away' && tries === 1)
          throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        if (id === 'away' && tries === 2) throw new InternalApiError(503, 'restarting');
        if (id === 'gone') throw new InternalApiError(404, 'Delivery not found');
        return { status: result.outcome === 'sent' ? 'sent' : 'queued' };
      },
    },
    botApi: new Api(tg.token, { apiRoot: fake.apiRoot }),
    log,
  });
  try {
    await expect.poll(() => calls.length, { timeout: 5_000 }).toBe(4);
    // The claim that had it again while its report was retried sends nothing more.
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toEqual(['away sent', 'away sent', 'away sent', 'gone sent']);
    expect(fake.messages({ chatId }).map((m) => m.plainText)).toEqual([
      'text of away',
      'text of gone',
    ]);
  } finally {
    const stopping = loop.stop();
    release();
    await stopping;
  }
});

it('stopping, a chat gives back what it holds, also what a last long poll hands out meanwhile', async () => {
  const { tg, chatId } = botWithPrivateChat();
  const claimed = (id: string, seq: number) => claimedTo(chatId, id, seq);
  // a1's send hangs long enough for the loop to be told to stop meanwhile.
  fake.failNext({ token: tg.token, method: 'sendMessage', fault: { type: 'timeout', ms: 400 } });
  let claims = 0;
  let lastPoll: (ds: ClaimedDelivery[]) => void = () => {};
  const reported: Array<[string, DeliveryResult['outcome']]> = [];
  const loop = startDeliveryLoop({
    internalApi: {
      claim: async () => {
        if (++claims === 1) return [claimed('a1', 1), claimed('a2', 2)];
        if (claims === 2) return new Promise<ClaimedDelivery[]>((r) => (lastPoll = r));
        return [];
      },
      report: async (id, result) => {
        reported.push([id, result.outcome]);
        // While a2 goes back, the long poll that was in flight hands out a3 to the same chat.
        if (id === 'a2') {
          lastPoll([claimed('a3', 3)]);
          await new Promise((r) => setTimeout(r, 50));
        }
        return { status: result.outcome === 'sent' ? 'sent' : 'queued' };
      },
    },
    botApi: new Api(tg.token, { apiRoot: fake.apiRoot }),
    log,
  });
  await expect.poll(() => claims).toBe(2);
  await loop.stop();
  await expect.poll(() => reported.length).toBe(3);
  expect(reported).toEqual([
    ['a1', 'sent'],
    ['a2', 'released'],
    ['a3', 'released'],
  ]);
});
