import http from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Api } from 'grammy';
import { startFakeTelegram, type FakeTelegram } from '../../test/fake-telegram/server.js';
import { startDeliveryLoop, type ClaimedDelivery, type DeliveryResult } from './sender.js';

let fake: FakeTelegram;
beforeAll(async () => {
  fake = await startFakeTelegram({ port: 0 });
});
afterAll(async () => {
  await fake?.close();
});

const log = { warn: () => {}, error: () => {}, info: () => {} };

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
