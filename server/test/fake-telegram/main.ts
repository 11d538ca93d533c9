/**
 * `npm run fake-telegram`: runs the fake Telegram Bot API server standalone so a person (or a
 * browser e2e test) can try NotifyPro end to end without Telegram.
 *
 * Env: FAKE_TELEGRAM_PORT (default 8081), FAKE_TELEGRAM_HOST (default 127.0.0.1),
 * FAKE_TELEGRAM_TOKEN (the demo bot's token; generated when absent).
 */
import { startFakeTelegram } from './server.js';

const port = Number(process.env.FAKE_TELEGRAM_PORT ?? 8081);
const host = process.env.FAKE_TELEGRAM_HOST ?? '127.0.0.1';

const fake = await startFakeTelegram({
  port,
  host,
  log: (line) => console.log(`${new Date().toISOString()} ${line}`),
});
const bot = fake.addBot({
  ...(process.env.FAKE_TELEGRAM_TOKEN ? { token: process.env.FAKE_TELEGRAM_TOKEN } : {}),
  username: 'notifypro_demo_bot',
  firstName: 'NotifyPro Demo',
});
const user = fake.addUser({ id: 100_000_001, firstName: 'Demo', username: 'demo_user' });
const root = fake.apiRoot;

console.log(`Fake Telegram Bot API listening on ${root}

Demo bot: @${bot.username} (id ${bot.id})
  token: ${bot.token}

Point NotifyPro at it:
  TELEGRAM_API_ROOT=${root}

Inject updates (control API: POST ${root}/_fake/<method> with JSON; GET ${root}/_fake/help lists them):
  # the demo user writes /start to the bot (creates the private chat ${user.id})
  curl -s ${root}/_fake/userSendsMessage -H 'content-type: application/json' \\
    -d '{"token":"${bot.token}","from":${user.id},"text":"/start"}'
  # the bot is added to a new group
  curl -s ${root}/_fake/botAddedToGroup -H 'content-type: application/json' \\
    -d '{"token":"${bot.token}","chat":{"type":"group","title":"Ops"},"by":${user.id}}'
  # what the bot sent, and counters
  curl -s '${root}/_fake/messages?token=${bot.token}'
  curl -s ${root}/_fake/stats
  # faults: the next sendMessage answers 500
  curl -s ${root}/_fake/failNext -H 'content-type: application/json' \\
    -d '{"method":"sendMessage","fault":{"type":"http","status":500}}'
`);

const stop = (): void => {
  void fake.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
