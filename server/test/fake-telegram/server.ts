/**
 * A fake Telegram Bot API server: a real HTTP server (plain `node:http`) with Telegram's
 * request and response shapes, limits and errors, plus a control API for tests. It is the
 * project's only test double; see `startFakeTelegram`.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseTelegramHtml, type EntityParseResult, type MessageEntity } from './html-check.js';
import { parseLegacyMarkdown, parseMarkdownV2 } from './markdown-check.js';

export type { MessageEntity } from './html-check.js';

// ---------------------------------------------------------------------------------------------
// Bot API shapes (the subset the fake produces)

/** A Telegram user or bot. */
export interface TgUser {
  id: number;
  is_bot: boolean;
  first_name: string;
  last_name?: string;
  username?: string;
  language_code?: string;
}

/** What `getMe` answers. */
export interface TgBotInfo extends TgUser {
  is_bot: true;
  username: string;
  can_join_groups: boolean;
  can_read_all_group_messages: boolean;
  supports_inline_queries: boolean;
  can_connect_to_business: boolean;
  has_main_web_app: boolean;
}

export type ChatType = 'private' | 'group' | 'supergroup' | 'channel';

/** A chat as it appears inside messages and updates. */
export interface TgChat {
  id: number;
  type: ChatType;
  title?: string;
  username?: string;
  first_name?: string;
  last_name?: string;
}

/** What `getChat` answers (ChatFullInfo, trimmed). */
export interface TgChatFullInfo extends TgChat {
  accent_color_id: number;
  max_reaction_count: number;
}

export interface TgDocument {
  file_id: string;
  file_unique_id: string;
  file_name?: string;
  mime_type?: string;
  file_size?: number;
}

export interface TgPhotoSize {
  file_id: string;
  file_unique_id: string;
  width: number;
  height: number;
  file_size?: number;
}

export type ChatMemberStatus =
  | 'creator'
  | 'administrator'
  | 'member'
  | 'restricted'
  | 'left'
  | 'kicked';

/** A ChatMember (fields beyond `user` and `status` depend on the status). */
export interface TgChatMember {
  user: TgUser;
  status: ChatMemberStatus;
  until_date?: number;
  [right: string]: unknown;
}

export interface TgChatMemberUpdated {
  chat: TgChat;
  from: TgUser;
  date: number;
  old_chat_member: TgChatMember;
  new_chat_member: TgChatMember;
}

export interface TgMessage {
  message_id: number;
  from?: TgUser;
  sender_chat?: TgChat;
  chat: TgChat;
  date: number;
  message_thread_id?: number;
  text?: string;
  entities?: MessageEntity[];
  caption?: string;
  caption_entities?: MessageEntity[];
  document?: TgDocument;
  photo?: TgPhotoSize[];
  new_chat_members?: TgUser[];
  new_chat_member?: TgUser;
  new_chat_participant?: TgUser;
  left_chat_member?: TgUser;
  new_chat_title?: string;
  group_chat_created?: true;
  migrate_to_chat_id?: number;
  migrate_from_chat_id?: number;
  link_preview_options?: Record<string, unknown>;
  reply_markup?: unknown;
  reply_to_message?: TgMessage;
}

export interface TgCallbackQuery {
  id: string;
  from: TgUser;
  message?: TgMessage;
  chat_instance: string;
  data?: string;
}

/** A Bot API Update. Exactly one field besides `update_id` is set. */
export interface TgUpdate {
  update_id: number;
  message?: TgMessage;
  edited_message?: TgMessage;
  channel_post?: TgMessage;
  edited_channel_post?: TgMessage;
  callback_query?: TgCallbackQuery;
  my_chat_member?: TgChatMemberUpdated;
  chat_member?: TgChatMemberUpdated;
  [other: string]: unknown;
}

/** The update types a bot gets when `allowed_updates` is absent or empty. */
const DEFAULT_ALLOWED_UPDATES = new Set([
  'message',
  'edited_message',
  'channel_post',
  'edited_channel_post',
  'business_connection',
  'business_message',
  'edited_business_message',
  'deleted_business_messages',
  'inline_query',
  'chosen_inline_result',
  'callback_query',
  'shipping_query',
  'pre_checkout_query',
  'purchased_paid_media',
  'poll',
  'poll_answer',
  'my_chat_member',
  'chat_join_request',
  'chat_boost',
  'removed_chat_boost',
]);

// ---------------------------------------------------------------------------------------------
// Options and records

/** Rate limits; `false` turns one off. Defaults are what the project's sender is designed against. */
export interface FakeTelegramLimits {
  /** Sliding window of sent messages per bot. Default 30 per 1000 ms. */
  perBot?: { max: number; windowMs: number } | false;
  /** Token bucket per bot and chat. Default capacity 3, refilled at 1 token per second. */
  perChat?: { capacity: number; refillPerSecond: number } | false;
  /** Sliding window per bot and group/supergroup/channel (chat id < 0). Default 20 per 60 s. */
  perGroup?: { max: number; windowMs: number } | false;
  /** Largest accepted upload, bytes. Default 50 MB; above it: 413 "Request Entity Too Large". */
  maxUploadBytes?: number;
}

export interface ResolvedLimits {
  perBot: { max: number; windowMs: number } | false;
  perChat: { capacity: number; refillPerSecond: number } | false;
  perGroup: { max: number; windowMs: number } | false;
  maxUploadBytes: number;
}

export const DEFAULT_LIMITS: ResolvedLimits = {
  perBot: { max: 30, windowMs: 1000 },
  perChat: { capacity: 3, refillPerSecond: 1 },
  perGroup: { max: 20, windowMs: 60_000 },
  maxUploadBytes: 50 * 1024 * 1024,
};

export interface FakeTelegramOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  limits?: FakeTelegramLimits;
  /** Base URL reported as `apiRoot` (e.g. when reached through another host name). */
  publicBaseUrl?: string;
  /** First delay before re-delivering a webhook update after a failure; doubles up to the max. */
  webhookRetryDelayMs?: number;
  webhookMaxRetryDelayMs?: number;
  /** How long one webhook POST may take. Default 10 s. */
  webhookTimeoutMs?: number;
  /** Called with one line per Bot API request (the standalone runner prints them). */
  log?: (line: string) => void;
}

/** A fault the next matching Bot API request(s) get instead of (or on top of) the real answer. */
export type Fault =
  | {
      type: 'http';
      status: number;
      description?: string;
      retryAfter?: number;
      migrateTo?: number;
      /** Raw body instead of Telegram's JSON (e.g. nginx's HTML 502 page). */
      body?: string;
    }
  /** Hang `ms`, then answer normally (`then: 'answer'`, default) or close the connection. */
  | { type: 'timeout'; ms: number; then?: 'answer' | 'close' }
  /** Destroy the socket without answering; nothing is processed. */
  | { type: 'drop' }
  /** Process the request (a message is recorded as sent), then destroy the socket unanswered. */
  | { type: 'drop-after-accept' };

export interface FailNextOptions {
  token?: string;
  method?: string;
  chatId?: number | string;
  /** How many matching requests fail; default 1; -1 until `clearFaults()`. */
  count?: number;
  /** Let this many matching requests through before the first fails (e.g. 1: part 2 of a split text). */
  after?: number;
  fault: Fault;
}

/** An uploaded or referenced file, as recorded. */
export interface RecordedFile {
  file_id: string;
  file_unique_id: string;
  file_name?: string;
  mime_type?: string;
  file_size: number;
  sha256?: string;
  /** Set when the file was passed by URL. */
  url?: string;
}

/** A message the fake accepted from a bot. */
export interface SentMessage {
  token: string;
  botId: number;
  method: string;
  message_id: number;
  chat_id: number;
  chat_type: ChatType;
  date: number;
  /** The text as sent (markup included) and after entity parsing. */
  text?: string;
  caption?: string;
  parse_mode?: string;
  plainText: string;
  entities: MessageEntity[];
  document?: RecordedFile;
  photo?: RecordedFile;
  disable_notification: boolean;
  protect_content: boolean;
  link_preview_disabled: boolean;
  link_preview_options?: Record<string, unknown>;
  reply_markup?: unknown;
  message_thread_id?: number;
  /** The connection was dropped after the message was accepted (the "outcome unknown" case). */
  droppedAfterAccept: boolean;
  /** The `result` Telegram returned (or would have). */
  result: TgMessage;
}

/** One Bot API request as logged. */
export interface CallRecord {
  time: number;
  token: string;
  method: string;
  params: Record<string, unknown>;
  status?: number;
  ok?: boolean;
  description?: string;
  /** 'http' answer, or what happened to the connection. */
  outcome?: 'answered' | 'dropped' | 'aborted';
  fault?: Fault['type'];
}

export interface WebhookAttempt {
  time: number;
  token: string;
  url: string;
  update_id: number;
  status?: number;
  error?: string;
}

export interface FakeTelegramStats {
  requests: Record<string, number>;
  totalRequests: number;
  messagesSent: number;
  /** Every 429 answered, whether from the limiter or an injected fault. */
  tooManyRequests: number;
  /** 429s produced by the rate limiter alone. */
  rateLimited: number;
  /** Answers with `ok: false`, any code. */
  errors: number;
  errorsByCode: Record<string, number>;
  dropped: number;
  faultsInjected: number;
  webhookDeliveries: number;
  webhookFailures: number;
}

export interface AddBotOptions {
  token?: string;
  id?: number;
  username?: string;
  firstName?: string;
}

export interface UserInit {
  id?: number;
  firstName?: string;
  lastName?: string;
  username?: string;
  languageCode?: string;
}

export interface ChatInit {
  id?: number;
  type: ChatType;
  title?: string;
  username?: string;
  firstName?: string;
  lastName?: string;
  /** Bots that are members (administrators in channels). */
  botTokens?: string[];
}

/** A chat as the fake knows it. */
export interface ChatInfo extends TgChat {
  /** Bot id → its membership status. */
  members: Record<string, ChatMemberStatus>;
  migratedTo?: number;
  migratedFrom?: number;
}

// ---------------------------------------------------------------------------------------------
// Internals

class TgError extends Error {
  constructor(
    readonly code: number,
    readonly description: string,
    readonly parameters?: { retry_after?: number; migrate_to_chat_id?: number },
  ) {
    super(description);
  }
}

class BodyTooLarge extends Error {}

interface UploadedPart {
  field: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

interface QueuedUpdate {
  update: TgUpdate;
  /** Re-delivered by `repeatUpdate`: goes out once, whatever the offset. */
  repeat: boolean;
}

interface Webhook {
  url: string;
  secret?: string;
  lastErrorDate?: number;
  lastErrorMessage?: string;
  maxConnections: number;
}

interface Poller {
  wake(): void;
  terminate(error: TgError): void;
}

interface BotState {
  id: number;
  token: string;
  username: string;
  firstName: string;
  revoked: boolean;
  nextUpdateId: number;
  queue: QueuedUpdate[];
  /** Every update ever queued, for `repeatUpdate`. */
  history: Map<number, TgUpdate>;
  allowedUpdates: Set<string>;
  webhook?: Webhook;
  webhookLoop?: Promise<void>;
  poller?: Poller;
  commands: Map<string, unknown[]>;
  sentTimes: number[];
}

interface ChatState {
  id: number;
  type: ChatType;
  title?: string;
  username?: string;
  firstName?: string;
  lastName?: string;
  members: Map<number, ChatMemberStatus>;
  nextMessageId: number;
  migratedTo?: number;
  migratedFrom?: number;
}

interface StoredFile extends RecordedFile {
  data?: Buffer;
  file_path: string;
}

interface CallContext {
  bot: BotState;
  method: string;
  params: Record<string, unknown>;
  files: Map<string, UploadedPart>;
  res: http.ServerResponse;
  dropAfterAccept: boolean;
}

interface ArmedFault extends FailNextOptions {
  remaining: number;
}

type Handler = (ctx: CallContext) => unknown;

const now = (): number => Date.now();
const unixTime = (): number => Math.floor(Date.now() / 1000);

function randomToken(length: number): string {
  return randomBytes(length).toString('base64url').slice(0, length);
}

function defaultDescription(status: number): string {
  const known: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    409: 'Conflict',
    413: 'Request Entity Too Large',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
    504: 'Gateway Timeout',
  };
  return known[status] ?? http.STATUS_CODES[status] ?? 'Error';
}

function asBool(value: unknown): boolean {
  return value === true || value === 'true' || value === '1' || value === 1;
}

function asInt(value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  return Number.isFinite(n) ? Math.trunc(n) : fallback;
}

function asJson(value: unknown, what: string): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new TgError(400, `Bad Request: can't parse ${what} JSON object`);
  }
}

function asString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : String(value);
}

/** Splits a multipart/form-data body; part names and file names as grammY and curl send them. */
export function parseMultipart(body: Buffer, boundary: string): UploadedPart[] {
  const parts: UploadedPart[] = [];
  const delimiter = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delimiter);
  if (pos < 0) throw new TgError(400, 'Bad Request: invalid multipart body');
  for (;;) {
    pos += delimiter.length;
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) break; // closing "--"
    if (body[pos] === 0x0d && body[pos + 1] === 0x0a) pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw new TgError(400, 'Bad Request: invalid multipart body');
    const headers = body.subarray(pos, headerEnd).toString('utf8');
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headerEnd + 4);
    if (next < 0) throw new TgError(400, 'Bad Request: invalid multipart body');
    const data = body.subarray(headerEnd + 4, next);
    let field = '';
    let filename: string | undefined;
    let contentType: string | undefined;
    for (const line of headers.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-disposition') {
        field = /(?:^|;)\s*name="?([^";]*)"?/i.exec(value)?.[1] ?? '';
        const fn = /;\s*filename="([^"]*)"|;\s*filename=([^;]*)/i.exec(value);
        if (fn) filename = (fn[1] ?? fn[2] ?? '').trim();
      } else if (name === 'content-type') {
        contentType = value;
      }
    }
    parts.push({ field, filename, contentType, data: Buffer.from(data) });
    pos = next + 2;
  }
  return parts;
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => (tooLarge ? reject(new BodyTooLarge()) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

function parseText(text: string, parseMode: string | undefined): EntityParseResult {
  if (parseMode === undefined || parseMode === '') return { ok: true, text, entities: [] };
  const mode = parseMode.toLowerCase();
  if (mode === 'html') return parseTelegramHtml(text);
  if (mode === 'markdownv2') return parseMarkdownV2(text);
  if (mode === 'markdown') return parseLegacyMarkdown(text);
  throw new TgError(400, `Bad Request: unsupported parse_mode "${parseMode}"`);
}

function chatKindName(type: ChatType): string {
  return type === 'private' ? 'private' : type;
}

// ---------------------------------------------------------------------------------------------
// The server

/** A running fake Telegram Bot API server and its control API. Methods are bound. */
export class FakeTelegram {
  /** e.g. `http://127.0.0.1:PORT` — pass to grammY as `client.apiRoot`. */
  apiRoot = '';
  port = 0;

  private readonly server: http.Server;
  private limits: ResolvedLimits;
  private readonly bots = new Map<string, BotState>();
  private readonly chats = new Map<number, ChatState>();
  private readonly users = new Map<number, TgUser>();
  private readonly files = new Map<string, StoredFile>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly groupTimes = new Map<string, number[]>();
  private readonly callbackQueries = new Map<string, { botId: number; answered: boolean }>();
  private faults: ArmedFault[] = [];
  private sent: SentMessage[] = [];
  private callLog: CallRecord[] = [];
  private webhookLog: WebhookAttempt[] = [];
  private counters = this.emptyStats();
  private readonly messageWaiters = new Set<() => void>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly abort = new AbortController();
  private closed = false;
  private nextBotId = 7_000_000_001;
  private nextUserId = 100_000_001;
  private nextGroupId = 400_000_001;
  private nextSuperId = 1_000_000_001;
  private nextFileNo = 1;

  constructor(private readonly options: FakeTelegramOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent)
          this.writeJson(res, 500, { ok: false, error_code: 500, description: String(error) });
        else res.destroy();
      });
    });
    this.server.keepAliveTimeout = 5_000;
    // Bind every public method so `const { addBot } = fake` works.
    for (const name of Object.getOwnPropertyNames(FakeTelegram.prototype)) {
      const value = (this as unknown as Record<string, unknown>)[name];
      if (name !== 'constructor' && typeof value === 'function') {
        (this as unknown as Record<string, unknown>)[name] = value.bind(this);
      }
    }
  }

  /** @internal */
  async listen(): Promise<void> {
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
    this.apiRoot = (this.options.publicBaseUrl ?? `http://${shownHost}:${this.port}`).replace(
      /\/$/,
      '',
    );
  }

  /** Stops the server: pending long polls, webhook deliveries and open connections end. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const bot of this.bots.values()) bot.poller?.wake();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ------------------------------------------------------------------------------------------
  // Control API: bots and chats

  /** Registers a bot; a token like `7000000001:AA…` is generated when none is given. */
  addBot(options: AddBotOptions = {}): TgBotInfo & { token: string } {
    const tokenId = options.token ? Number(options.token.split(':')[0]) : NaN;
    const id =
      options.id ?? (Number.isSafeInteger(tokenId) && tokenId > 0 ? tokenId : this.nextBotId++);
    const token = options.token ?? `${id}:AA${randomToken(33)}`;
    if (this.bots.has(token)) throw new Error(`bot with token ${token} exists`);
    const username = options.username ?? `fake_${id}_bot`;
    const bot: BotState = {
      id,
      token,
      username,
      firstName: options.firstName ?? `Fake Bot ${id}`,
      revoked: false,
      nextUpdateId: 100_000_000 + Math.floor(Math.random() * 1_000_000),
      queue: [],
      history: new Map(),
      allowedUpdates: DEFAULT_ALLOWED_UPDATES,
      commands: new Map(),
      sentTimes: [],
    };
    this.bots.set(token, bot);
    return { ...this.botInfo(bot), token };
  }

  /** Makes the token invalid: every call with it answers 401. */
  revokeToken(token: string): void {
    const bot = this.requireBot(token);
    bot.revoked = true;
    bot.poller?.terminate(new TgError(401, 'Unauthorized'));
  }

  /** Registers a chat (and, for a private chat, its user) without producing updates. */
  addChat(init: ChatInit): ChatInfo {
    const chat = this.createChat(init);
    for (const token of init.botTokens ?? []) {
      const bot = this.requireBot(token);
      chat.members.set(bot.id, chat.type === 'channel' ? 'administrator' : 'member');
    }
    return this.chatInfo(chat);
  }

  /** Registers a user (the sender of injected messages). */
  addUser(init: UserInit = {}): TgUser {
    return this.user(init);
  }

  listBots(): Array<TgBotInfo & { token: string; revoked: boolean }> {
    return [...this.bots.values()].map((b) => ({
      ...this.botInfo(b),
      token: b.token,
      revoked: b.revoked,
    }));
  }

  /** Every known chat with its member bots. */
  listChats(): ChatInfo[] {
    return [...this.chats.values()].map((c) => this.chatInfo(c));
  }

  getChatInfo(chatId: number): ChatInfo | undefined {
    const chat = this.chats.get(Number(chatId));
    return chat ? this.chatInfo(chat) : undefined;
  }

  // ------------------------------------------------------------------------------------------
  // Control API: update injection

  /**
   * A user writes to a chat the bot is in (default: the user's private chat with the bot).
   * Commands (`/start`, `/help@bot`) get `bot_command` entities. Returns the queued update.
   */
  userSendsMessage(options: {
    token: string;
    chat?: number | ChatInit;
    from?: number | UserInit;
    text: string;
    replyToMessageId?: number;
  }): TgUpdate {
    const bot = this.requireBot(options.token);
    const from = this.user(options.from);
    let chat: ChatState;
    if (options.chat === undefined) {
      chat = this.privateChat(from);
    } else if (typeof options.chat === 'number') {
      chat = this.requireChat(options.chat);
    } else {
      chat = this.chats.get(options.chat.id ?? NaN) ?? this.createChat(options.chat);
      if (!chat.members.has(bot.id)) {
        chat.members.set(bot.id, chat.type === 'channel' ? 'administrator' : 'member');
      }
    }
    const status = chat.members.get(bot.id);
    if (chat.type === 'private') {
      if (status === 'kicked') this.setBlocked(bot, chat, from, false);
      chat.members.set(bot.id, 'member');
    } else if (status !== 'member' && status !== 'administrator' && status !== 'creator') {
      throw new Error(`bot ${bot.username} is not a member of chat ${chat.id}`);
    }
    if (chat.migratedTo !== undefined)
      throw new Error(`chat ${chat.id} was migrated to ${chat.migratedTo}`);
    const entities: MessageEntity[] = [];
    for (const m of options.text.matchAll(
      /(^|\s)(\/[a-zA-Z0-9_]{1,32}(?:@[a-zA-Z0-9_]{3,32})?)/g,
    )) {
      const command = m[2] as string;
      const offset = (m.index ?? 0) + (m[1] as string).length;
      entities.push({ type: 'bot_command', offset, length: command.length });
    }
    const message: TgMessage = {
      message_id: chat.nextMessageId++,
      ...(chat.type === 'channel' ? { sender_chat: this.chatShape(chat) } : { from }),
      chat: this.chatShape(chat),
      date: unixTime(),
      text: options.text,
      ...(entities.length ? { entities } : {}),
    };
    if (options.replyToMessageId !== undefined) {
      const original = this.sent.find(
        (s) => s.chat_id === chat.id && s.message_id === options.replyToMessageId,
      );
      if (original) message.reply_to_message = original.result;
    }
    return this.enqueue(bot, chat.type === 'channel' ? { channel_post: message } : { message });
  }

  /** A user presses an inline keyboard button under a message the bot sent. */
  userPressesButton(options: {
    token: string;
    chatId: number;
    messageId?: number;
    from?: number | UserInit;
    data: string;
  }): TgUpdate {
    const bot = this.requireBot(options.token);
    const chat = this.requireChat(options.chatId);
    const from = this.user(options.from ?? (chat.type === 'private' ? chat.id : undefined));
    const original = [...this.sent]
      .reverse()
      .find(
        (s) =>
          s.botId === bot.id &&
          s.chat_id === chat.id &&
          (options.messageId === undefined || s.message_id === options.messageId),
      );
    const id = `${bot.id}${randomBytes(6).readUIntBE(0, 6)}`;
    this.callbackQueries.set(id, { botId: bot.id, answered: false });
    return this.enqueue(bot, {
      callback_query: {
        id,
        from,
        ...(original ? { message: original.result } : {}),
        chat_instance: String(Math.abs(chat.id * 7919) % 1e12),
        data: options.data,
      },
    });
  }

  /**
   * The bot is added to a group, supergroup or channel (created when `chat` is an init object
   * or absent). Queues `my_chat_member` (left → member, or administrator in channels/`asAdmin`)
   * and, in groups, the `new_chat_members` service message.
   */
  botAddedToGroup(options: {
    token: string;
    chat?: number | ChatInit;
    by?: number | UserInit;
    asAdmin?: boolean;
  }): { chat: ChatInfo; updates: TgUpdate[] } {
    const bot = this.requireBot(options.token);
    const by = this.user(options.by);
    const chat =
      typeof options.chat === 'number'
        ? this.requireChat(options.chat)
        : (this.chats.get(options.chat?.id ?? NaN) ??
          this.createChat(options.chat ?? { type: 'group' }));
    if (chat.type === 'private') throw new Error('use userSendsMessage for private chats');
    const oldStatus = chat.members.get(bot.id) ?? 'left';
    const newStatus: ChatMemberStatus =
      chat.type === 'channel' || options.asAdmin ? 'administrator' : 'member';
    chat.members.set(bot.id, newStatus);
    const updates = [
      this.enqueue(bot, { my_chat_member: this.memberUpdate(bot, chat, by, oldStatus, newStatus) }),
    ];
    if (chat.type !== 'channel') {
      const botUser = this.botUser(bot);
      updates.push(
        this.enqueue(bot, {
          message: {
            message_id: chat.nextMessageId++,
            from: by,
            chat: this.chatShape(chat),
            date: unixTime(),
            new_chat_participant: botUser,
            new_chat_member: botUser,
            new_chat_members: [botUser],
          },
        }),
      );
    }
    return { chat: this.chatInfo(chat), updates };
  }

  /** The bot is removed (`left`) or banned (`kicked`); later sends answer 403. */
  botRemovedFromGroup(options: {
    token: string;
    chatId: number;
    kicked?: boolean;
    by?: number | UserInit;
  }): { chat: ChatInfo; updates: TgUpdate[] } {
    const bot = this.requireBot(options.token);
    const chat = this.requireChat(options.chatId);
    const by = this.user(options.by);
    const oldStatus = chat.members.get(bot.id) ?? 'left';
    const newStatus: ChatMemberStatus = options.kicked ? 'kicked' : 'left';
    chat.members.set(bot.id, newStatus);
    const update = this.enqueue(bot, {
      my_chat_member: this.memberUpdate(bot, chat, by, oldStatus, newStatus),
    });
    return { chat: this.chatInfo(chat), updates: [update] };
  }

  /** The user blocks the bot: `my_chat_member` member → kicked; sends answer 403. */
  userBlocksBot(options: { token: string; userId: number }): { updates: TgUpdate[] } {
    const bot = this.requireBot(options.token);
    const user = this.user(options.userId);
    const chat = this.privateChat(user);
    return { updates: [this.setBlocked(bot, chat, user, true)] };
  }

  /** The user unblocks (restarts) the bot. */
  userUnblocksBot(options: { token: string; userId: number }): { updates: TgUpdate[] } {
    const bot = this.requireBot(options.token);
    const user = this.user(options.userId);
    const chat = this.privateChat(user);
    return { updates: [this.setBlocked(bot, chat, user, false)] };
  }

  /**
   * A group becomes a supergroup with a new `-100…` id. Every member bot gets the
   * `migrate_to_chat_id` message (old chat) and the `migrate_from_chat_id` message (new chat);
   * sends to the old id answer 400 with `parameters.migrate_to_chat_id`. Returns the new id.
   */
  migrateGroupToSupergroup(options: { chatId: number; by?: number | UserInit }): number {
    const old = this.requireChat(options.chatId);
    if (old.type !== 'group') throw new Error(`chat ${old.id} is a ${old.type}, not a group`);
    if (old.migratedTo !== undefined) throw new Error(`chat ${old.id} already migrated`);
    const by = this.user(options.by);
    const id = Number(`-100${this.nextSuperId++}`);
    const created = this.createChat({ id, type: 'supergroup', title: old.title });
    created.migratedFrom = old.id;
    old.migratedTo = id;
    for (const [botId, status] of old.members) {
      created.members.set(botId, status);
      const bot = this.botById(botId);
      if (!bot || (status !== 'member' && status !== 'administrator' && status !== 'creator'))
        continue;
      this.enqueue(bot, {
        message: {
          message_id: old.nextMessageId++,
          from: by,
          chat: this.chatShape(old),
          date: unixTime(),
          migrate_to_chat_id: id,
        },
      });
      this.enqueue(bot, {
        message: {
          message_id: created.nextMessageId++,
          from: {
            id: 1087968824,
            is_bot: true,
            first_name: 'Group',
            username: 'GroupAnonymousBot',
          },
          sender_chat: this.chatShape(created),
          chat: this.chatShape(created),
          date: unixTime(),
          migrate_from_chat_id: old.id,
        },
      });
    }
    return id;
  }

  /** The chat's title changes; member bots get the `new_chat_title` service message. */
  changeTitle(options: { chatId: number; title: string; by?: number | UserInit }): {
    updates: TgUpdate[];
  } {
    const chat = this.requireChat(options.chatId);
    chat.title = options.title;
    const by = this.user(options.by);
    const updates: TgUpdate[] = [];
    for (const [botId, status] of chat.members) {
      const bot = this.botById(botId);
      if (!bot || (status !== 'member' && status !== 'administrator' && status !== 'creator'))
        continue;
      const message: TgMessage = {
        message_id: chat.nextMessageId++,
        ...(chat.type === 'channel' ? { sender_chat: this.chatShape(chat) } : { from: by }),
        chat: this.chatShape(chat),
        date: unixTime(),
        new_chat_title: options.title,
      };
      updates.push(
        this.enqueue(bot, chat.type === 'channel' ? { channel_post: message } : { message }),
      );
    }
    return { updates };
  }

  /** Queues any update; `update_id` is assigned (increasing per bot). */
  injectUpdate(
    token: string,
    update: Omit<TgUpdate, 'update_id'> & { update_id?: never },
  ): TgUpdate {
    return this.enqueue(this.requireBot(token), update);
  }

  /** Delivers an already queued update again with the same `update_id` (to prove dedup). */
  repeatUpdate(token: string, updateId: number): TgUpdate {
    const bot = this.requireBot(token);
    const update = bot.history.get(Number(updateId));
    if (!update) throw new Error(`bot ${bot.username} never had update ${updateId}`);
    bot.queue.push({ update, repeat: true });
    this.notifyBot(bot);
    return update;
  }

  /** Updates waiting for the bot (not yet confirmed or delivered). */
  pendingUpdates(token: string): TgUpdate[] {
    return this.requireBot(token).queue.map((q) => q.update);
  }

  // ------------------------------------------------------------------------------------------
  // Control API: faults and limits

  /** Arms a fault for the next matching request(s). */
  failNext(options: FailNextOptions): void {
    this.faults.push({ ...options, remaining: options.count ?? 1 });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Changes rate limits at run time (only the given keys). */
  setLimits(limits: FakeTelegramLimits): ResolvedLimits {
    this.limits = { ...this.limits, ...limits };
    return this.limits;
  }

  // ------------------------------------------------------------------------------------------
  // Control API: inspection

  /** Every accepted message, in order. */
  messages(
    filter: { token?: string; chatId?: number | string; method?: string } = {},
  ): SentMessage[] {
    return this.sent.filter(
      (m) =>
        (filter.token === undefined || m.token === filter.token) &&
        (filter.chatId === undefined || m.chat_id === Number(filter.chatId)) &&
        (filter.method === undefined || m.method.toLowerCase() === filter.method.toLowerCase()),
    );
  }

  /** Waits until at least `n` messages (optionally in one chat) were accepted. */
  waitForMessages(
    n: number,
    options: { chatId?: number | string; token?: string; timeoutMs?: number } = {},
  ): Promise<SentMessage[]> {
    const filter = { chatId: options.chatId, token: options.token };
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.messages(filter);
        if (found.length < n) return false;
        clearTimeout(timer);
        this.messageWaiters.delete(waiter);
        resolve(found);
        return true;
      };
      const waiter = (): void => void check();
      const timer = setTimeout(() => {
        this.messageWaiters.delete(waiter);
        reject(
          new Error(
            `waitForMessages: ${this.messages(filter).length} of ${n} messages after ${options.timeoutMs ?? 5000} ms`,
          ),
        );
      }, options.timeoutMs ?? 5000);
      if (!check()) this.messageWaiters.add(waiter);
    });
  }

  /** Content of an uploaded file. */
  fileContent(fileId: string): Buffer | undefined {
    return this.files.get(fileId)?.data;
  }

  stats(): FakeTelegramStats {
    return structuredClone(this.counters);
  }

  /** The raw request log. */
  calls(filter: { method?: string; token?: string } = {}): CallRecord[] {
    return this.callLog.filter(
      (c) =>
        (filter.method === undefined || c.method.toLowerCase() === filter.method.toLowerCase()) &&
        (filter.token === undefined || c.token === filter.token),
    );
  }

  webhookDeliveries(filter: { token?: string } = {}): WebhookAttempt[] {
    return this.webhookLog.filter((w) => filter.token === undefined || w.token === filter.token);
  }

  /** Forgets messages, calls, stats, faults and rate-limit history; keeps bots, chats, queues. */
  clearRecords(): void {
    this.sent = [];
    this.callLog = [];
    this.webhookLog = [];
    this.counters = this.emptyStats();
    this.faults = [];
    this.buckets.clear();
    this.groupTimes.clear();
    for (const bot of this.bots.values()) bot.sentTimes = [];
  }

  /** Back to a fresh server: no bots, chats, users, files or records. */
  reset(): void {
    for (const bot of this.bots.values()) {
      bot.webhook = undefined;
      bot.poller?.terminate(new TgError(401, 'Unauthorized'));
    }
    this.bots.clear();
    this.chats.clear();
    this.users.clear();
    this.files.clear();
    this.callbackQueries.clear();
    this.clearRecords();
  }

  // ------------------------------------------------------------------------------------------
  // HTTP

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const path = url.pathname;
    if (path.startsWith('/_fake/') || path === '/_fake') return this.handleControl(req, res, url);
    const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(path);
    if (file && req.method === 'GET')
      return this.serveFile(res, file[1] as string, file[2] as string);
    const match = /^\/bot([^/]+)\/([A-Za-z0-9_]*)\/?$/.exec(path);
    if (!match) {
      req.resume();
      return this.writeJson(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    }
    const token = decodeURIComponent(match[1] as string);
    const methodName = match[2] as string;

    let params: Record<string, unknown>;
    let files: Map<string, UploadedPart>;
    try {
      ({ params, files } = await this.readParams(req, url));
    } catch (error) {
      const err =
        error instanceof BodyTooLarge
          ? new TgError(413, 'Request Entity Too Large')
          : error instanceof TgError
            ? error
            : new TgError(400, `Bad Request: ${String(error)}`);
      return this.answerError(res, undefined, err);
    }
    const handler = this.handlers[methodName.toLowerCase()];
    // Telegram matches method names case-insensitively; log the canonical spelling.
    const method = this.methodNames.get(methodName.toLowerCase()) ?? methodName;
    const record: CallRecord = {
      time: now(),
      token,
      method,
      params: {
        ...params,
        ...Object.fromEntries(
          [...files.values()].map((f) => [
            f.field,
            `<file ${f.filename ?? ''} ${f.data.length} bytes>`,
          ]),
        ),
      },
    };
    this.callLog.push(record);
    this.counters.totalRequests++;
    this.counters.requests[method] = (this.counters.requests[method] ?? 0) + 1;

    const bot = this.bots.get(token);
    if (!bot || bot.revoked) return this.answerError(res, record, new TgError(401, 'Unauthorized'));
    if (!handler) return this.answerError(res, record, new TgError(404, 'Not Found'));

    const ctx: CallContext = { bot, method, params, files, res, dropAfterAccept: false };
    const fault = this.takeFault(bot, method, params);
    if (fault) {
      record.fault = fault.type;
      this.counters.faultsInjected++;
      if (fault.type === 'drop') return this.drop(res, record);
      if (fault.type === 'http') {
        if (fault.body !== undefined) {
          this.countError(fault.status);
          record.status = fault.status;
          record.ok = false;
          record.outcome = 'answered';
          res.writeHead(fault.status, { 'content-type': 'text/html' });
          res.end(fault.body);
          return;
        }
        const description =
          fault.description ??
          (fault.status === 429
            ? `Too Many Requests: retry after ${fault.retryAfter ?? 1}`
            : defaultDescription(fault.status));
        const parameters =
          fault.retryAfter !== undefined || fault.status === 429
            ? { retry_after: fault.retryAfter ?? 1 }
            : fault.migrateTo !== undefined
              ? { migrate_to_chat_id: fault.migrateTo }
              : undefined;
        return this.answerError(res, record, new TgError(fault.status, description, parameters));
      }
      if (fault.type === 'timeout') {
        await this.sleep(fault.ms);
        if (this.closed || res.destroyed) return;
        if (fault.then === 'close') return this.drop(res, record);
      }
      if (fault.type === 'drop-after-accept') ctx.dropAfterAccept = true;
    }

    try {
      const result = await handler(ctx);
      if (res.destroyed || res.writableEnded) {
        record.outcome = 'aborted';
        return;
      }
      if (ctx.dropAfterAccept) return this.drop(res, record);
      const body: Record<string, unknown> = { ok: true, result };
      if (method === 'setWebhook')
        body.description =
          result === true && params.url ? 'Webhook was set' : 'Webhook was deleted';
      if (method === 'deleteWebhook') body.description = 'Webhook was deleted';
      record.status = 200;
      record.ok = true;
      record.outcome = 'answered';
      this.log(`${method} ${bot.username} → 200`);
      this.writeJson(res, 200, body);
    } catch (error) {
      if (ctx.dropAfterAccept) return this.drop(res, record);
      if (!(error instanceof TgError)) throw error;
      this.answerError(res, record, error);
    }
  }

  private drop(res: http.ServerResponse, record: CallRecord): void {
    record.outcome = 'dropped';
    this.counters.dropped++;
    this.log(`${record.method} → connection dropped`);
    res.socket?.destroy();
    res.destroy();
  }

  private countError(code: number): void {
    this.counters.errors++;
    this.counters.errorsByCode[code] = (this.counters.errorsByCode[code] ?? 0) + 1;
    if (code === 429) this.counters.tooManyRequests++;
  }

  private answerError(
    res: http.ServerResponse,
    record: CallRecord | undefined,
    error: TgError,
  ): void {
    if (res.destroyed || res.writableEnded) {
      if (record) record.outcome = 'aborted';
      return;
    }
    this.countError(error.code);
    if (record) {
      record.status = error.code;
      record.ok = false;
      record.description = error.description;
      record.outcome = 'answered';
      this.log(`${record.method} → ${error.code} ${error.description}`);
    }
    this.writeJson(res, error.code, {
      ok: false,
      error_code: error.code,
      description: error.description,
      ...(error.parameters ? { parameters: error.parameters } : {}),
    });
  }

  private writeJson(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private async readParams(
    req: http.IncomingMessage,
    url: URL,
  ): Promise<{ params: Record<string, unknown>; files: Map<string, UploadedPart> }> {
    const params: Record<string, unknown> = Object.fromEntries(url.searchParams);
    const files = new Map<string, UploadedPart>();
    const body = await readBody(req, this.limits.maxUploadBytes + 1024 * 1024);
    const type = (req.headers['content-type'] ?? '').toLowerCase();
    if (body.length === 0) return { params, files };
    if (type.startsWith('application/json')) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        throw new TgError(400, "Bad Request: can't parse JSON");
      }
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        Object.assign(params, parsed);
    } else if (type.startsWith('multipart/form-data')) {
      const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(req.headers['content-type'] ?? '');
      const value = boundary?.[1] ?? boundary?.[2];
      if (!value) throw new TgError(400, 'Bad Request: invalid multipart body');
      for (const part of parseMultipart(body, value.trim())) {
        if (part.filename !== undefined) {
          if (part.data.length > this.limits.maxUploadBytes) throw new BodyTooLarge();
          files.set(part.field, part);
        } else {
          params[part.field] = part.data.toString('utf8');
        }
      }
    } else {
      Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
    }
    return { params, files };
  }

  private takeFault(
    bot: BotState,
    method: string,
    params: Record<string, unknown>,
  ): Fault | undefined {
    const index = this.faults.findIndex(
      (f) =>
        (f.token === undefined || f.token === bot.token) &&
        (f.method === undefined || f.method.toLowerCase() === method.toLowerCase()) &&
        (f.chatId === undefined || String(f.chatId) === String(params.chat_id)),
    );
    const armed = this.faults[index];
    if (!armed) return undefined;
    if (armed.after && armed.after > 0) {
      armed.after--;
      return undefined;
    }
    if (armed.remaining > 0 && --armed.remaining === 0) this.faults.splice(index, 1);
    return armed.fault;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const onAbort = (): void => resolve();
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      this.timers.add(timer);
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private serveFile(res: http.ServerResponse, token: string, filePath: string): void {
    const bot = this.bots.get(token);
    if (!bot || bot.revoked) {
      return this.writeJson(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    }
    const file = [...this.files.values()].find((f) => f.file_path === filePath);
    if (!file?.data)
      return this.writeJson(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    res.writeHead(200, {
      'content-type': file.mime_type ?? 'application/octet-stream',
      'content-length': file.data.length,
    });
    res.end(file.data);
  }

  // ------------------------------------------------------------------------------------------
  // HTTP control API: POST|GET {root}/_fake/<method> with the method's argument as JSON

  private readonly control: Record<string, (args: Record<string, unknown>) => unknown> = {
    addBot: (a) => this.addBot(a as AddBotOptions),
    revokeToken: (a) => this.revokeToken(String(a.token)),
    addChat: (a) => this.addChat(a as unknown as ChatInit),
    addUser: (a) => this.addUser(a as UserInit),
    bots: () => this.listBots(),
    chats: () => this.listChats(),
    userSendsMessage: (a) =>
      this.userSendsMessage(a as Parameters<FakeTelegram['userSendsMessage']>[0]),
    userPressesButton: (a) =>
      this.userPressesButton(a as Parameters<FakeTelegram['userPressesButton']>[0]),
    botAddedToGroup: (a) =>
      this.botAddedToGroup(a as Parameters<FakeTelegram['botAddedToGroup']>[0]),
    botRemovedFromGroup: (a) =>
      this.botRemovedFromGroup(a as Parameters<FakeTelegram['botRemovedFromGroup']>[0]),
    userBlocksBot: (a) => this.userBlocksBot(a as Parameters<FakeTelegram['userBlocksBot']>[0]),
    userUnblocksBot: (a) =>
      this.userUnblocksBot(a as Parameters<FakeTelegram['userUnblocksBot']>[0]),
    migrateGroupToSupergroup: (a) => ({
      newChatId: this.migrateGroupToSupergroup(
        a as Parameters<FakeTelegram['migrateGroupToSupergroup']>[0],
      ),
    }),
    changeTitle: (a) => this.changeTitle(a as Parameters<FakeTelegram['changeTitle']>[0]),
    injectUpdate: (a) =>
      this.injectUpdate(String(a.token), a.update as Omit<TgUpdate, 'update_id'>),
    repeatUpdate: (a) => this.repeatUpdate(String(a.token), Number(a.update_id ?? a.updateId)),
    pendingUpdates: (a) => this.pendingUpdates(String(a.token)),
    failNext: (a) => this.failNext(a as unknown as FailNextOptions),
    clearFaults: () => this.clearFaults(),
    setLimits: (a) => this.setLimits(a as FakeTelegramLimits),
    messages: (a) => this.messages(a as Parameters<FakeTelegram['messages']>[0]),
    waitForMessages: (a) =>
      this.waitForMessages(Number(a.n ?? 1), {
        chatId: a.chatId as number | undefined,
        token: a.token as string | undefined,
        timeoutMs: a.timeoutMs === undefined ? undefined : Number(a.timeoutMs),
      }),
    stats: () => this.stats(),
    calls: (a) => this.calls(a as { method?: string; token?: string }),
    webhookDeliveries: (a) => this.webhookDeliveries(a as { token?: string }),
    clearRecords: () => this.clearRecords(),
    reset: () => this.reset(),
  };

  private async handleControl(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
  ): Promise<void> {
    const cors = {
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'content-type',
    };
    for (const [k, v] of Object.entries(cors)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') {
      req.resume();
      res.writeHead(204);
      res.end();
      return;
    }
    const name = url.pathname.slice('/_fake/'.length).replace(/\/$/, '');
    let args: Record<string, unknown> = {};
    try {
      const body = await readBody(req, 10 * 1024 * 1024);
      for (const [k, v] of url.searchParams) args[k] = /^-?\d+$/.test(v) ? Number(v) : v;
      if (body.length) {
        const parsed = JSON.parse(body.toString('utf8')) as unknown;
        if (parsed && typeof parsed === 'object')
          args = { ...args, ...(parsed as Record<string, unknown>) };
      }
      if (name === '' || name === 'help') {
        return this.writeJson(res, 200, { ok: true, result: Object.keys(this.control) });
      }
      const fn = this.control[name];
      if (!fn)
        return this.writeJson(res, 404, { ok: false, error: `unknown control method ${name}` });
      const result = await fn(args);
      this.writeJson(res, 200, { ok: true, result: result ?? true });
    } catch (error) {
      this.writeJson(res, 400, {
        ok: false,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  // ------------------------------------------------------------------------------------------
  // Bot API methods

  private readonly handlers: Record<string, Handler> = Object.fromEntries(
    Object.entries({
      getMe: (ctx: CallContext): unknown => this.botInfo(ctx.bot),
      logOut: (): unknown => true,
      close: (): unknown => true,
      getUpdates: (ctx: CallContext): unknown => this.getUpdates(ctx),
      setWebhook: (ctx: CallContext): unknown => this.setWebhook(ctx),
      deleteWebhook: (ctx: CallContext): unknown => this.deleteWebhook(ctx),
      getWebhookInfo: (ctx: CallContext): unknown => this.getWebhookInfo(ctx),
      sendMessage: (ctx: CallContext): unknown => this.sendMessage(ctx),
      sendDocument: (ctx: CallContext): unknown => this.sendFile(ctx, 'document'),
      sendPhoto: (ctx: CallContext): unknown => this.sendFile(ctx, 'photo'),
      getFile: (ctx: CallContext): unknown => this.getFile(ctx),
      getChat: (ctx: CallContext): unknown => this.getChat(ctx),
      getChatMember: (ctx: CallContext): unknown => this.getChatMember(ctx),
      setMyCommands: (ctx: CallContext): unknown => this.setMyCommands(ctx),
      deleteMyCommands: (ctx: CallContext): unknown => {
        ctx.bot.commands.delete(this.commandsKey(ctx.params));
        return true;
      },
      getMyCommands: (ctx: CallContext): unknown =>
        ctx.bot.commands.get(this.commandsKey(ctx.params)) ?? [],
      answerCallbackQuery: (ctx: CallContext): unknown => this.answerCallbackQuery(ctx),
    }).map(([name, fn]) => [name.toLowerCase(), fn]),
  );

  private readonly methodNames = new Map(
    [
      'getMe',
      'logOut',
      'close',
      'getUpdates',
      'setWebhook',
      'deleteWebhook',
      'getWebhookInfo',
      'sendMessage',
      'sendDocument',
      'sendPhoto',
      'getFile',
      'getChat',
      'getChatMember',
      'setMyCommands',
      'deleteMyCommands',
      'getMyCommands',
      'answerCallbackQuery',
    ].map((n) => [n.toLowerCase(), n]),
  );

  private async getUpdates(ctx: CallContext): Promise<TgUpdate[]> {
    const { bot, params } = ctx;
    if (bot.webhook) {
      throw new TgError(
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
      );
    }
    bot.poller?.terminate(
      new TgError(
        409,
        'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running',
      ),
    );
    const offset = asInt(params.offset, 0);
    const limit = Math.min(100, Math.max(1, asInt(params.limit, 100)));
    const timeout = Math.max(0, asInt(params.timeout, 0));
    if (params.allowed_updates !== undefined) {
      const list = asJson(params.allowed_updates, 'allowed_updates');
      bot.allowedUpdates =
        Array.isArray(list) && list.length > 0
          ? new Set(list.map(String))
          : DEFAULT_ALLOWED_UPDATES;
    }
    if (offset > 0) {
      bot.queue = bot.queue.filter((q) => q.repeat || q.update.update_id >= offset);
    } else if (offset < 0) {
      const keep = bot.queue.filter((q) => !q.repeat).slice(offset);
      bot.queue = keep;
    }
    let batch = this.takeBatch(bot, limit);
    if (batch.length === 0 && timeout > 0) {
      const outcome = await new Promise<TgError | undefined>((resolve) => {
        const finish = (error?: TgError): void => {
          clearTimeout(timer);
          this.timers.delete(timer);
          if (bot.poller === poller) bot.poller = undefined;
          ctx.res.off('close', onClose);
          resolve(error);
        };
        const onClose = (): void => finish();
        const poller: Poller = { wake: () => finish(), terminate: (error) => finish(error) };
        const timer = setTimeout(() => finish(), timeout * 1000);
        this.timers.add(timer);
        ctx.res.on('close', onClose);
        bot.poller = poller;
      });
      if (outcome) throw outcome;
      if (bot.webhook) {
        throw new TgError(
          409,
          "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        );
      }
      batch = ctx.res.destroyed ? [] : this.takeBatch(bot, limit);
    }
    return batch;
  }

  /** Up to `limit` deliverable updates; drops types the bot did not ask for. */
  private takeBatch(bot: BotState, limit: number): TgUpdate[] {
    bot.queue = bot.queue.filter((q) => bot.allowedUpdates.has(this.updateType(q.update)));
    const items = bot.queue.slice(0, limit);
    bot.queue = bot.queue.filter((q) => !(q.repeat && items.includes(q)));
    return items.map((q) => q.update);
  }

  private updateType(update: TgUpdate): string {
    return Object.keys(update).find((k) => k !== 'update_id') ?? '';
  }

  private setWebhook(ctx: CallContext): boolean {
    const { bot, params } = ctx;
    const url = asString(params.url) ?? '';
    if (url === '') return this.deleteWebhook(ctx);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TgError(400, 'Bad Request: invalid webhook URL specified');
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new TgError(400, 'Bad Request: bad webhook: An HTTPS URL must be provided for webhook');
    }
    const secret = asString(params.secret_token);
    if (secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secret)) {
      throw new TgError(400, 'Bad Request: secret token contains unallowed characters');
    }
    if (params.allowed_updates !== undefined) {
      const list = asJson(params.allowed_updates, 'allowed_updates');
      bot.allowedUpdates =
        Array.isArray(list) && list.length > 0
          ? new Set(list.map(String))
          : DEFAULT_ALLOWED_UPDATES;
    }
    if (asBool(params.drop_pending_updates)) bot.queue = [];
    bot.webhook = {
      url,
      ...(secret ? { secret } : {}),
      maxConnections: Math.min(100, Math.max(1, asInt(params.max_connections, 40))),
    };
    bot.poller?.terminate(
      new TgError(
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
      ),
    );
    this.kickWebhook(bot);
    return true;
  }

  private deleteWebhook(ctx: CallContext): boolean {
    ctx.bot.webhook = undefined;
    if (asBool(ctx.params.drop_pending_updates)) ctx.bot.queue = [];
    return true;
  }

  private getWebhookInfo(ctx: CallContext): Record<string, unknown> {
    const { bot } = ctx;
    const hook = bot.webhook;
    return {
      url: hook?.url ?? '',
      has_custom_certificate: false,
      pending_update_count: bot.queue.length,
      ...(hook
        ? {
            max_connections: hook.maxConnections,
            ip_address: '127.0.0.1',
            ...(hook.lastErrorDate !== undefined
              ? { last_error_date: hook.lastErrorDate, last_error_message: hook.lastErrorMessage }
              : {}),
            ...(bot.allowedUpdates !== DEFAULT_ALLOWED_UPDATES
              ? { allowed_updates: [...bot.allowedUpdates] }
              : {}),
          }
        : {}),
    };
  }

  private kickWebhook(bot: BotState): void {
    if (!bot.webhook || bot.webhookLoop || this.closed) return;
    bot.webhookLoop = this.deliverWebhook(bot).finally(() => {
      bot.webhookLoop = undefined;
      if (bot.webhook && bot.queue.length > 0 && !this.closed) this.kickWebhook(bot);
    });
  }

  private async deliverWebhook(bot: BotState): Promise<void> {
    let delay = this.options.webhookRetryDelayMs ?? 100;
    while (!this.closed && bot.webhook && this.bots.get(bot.token) === bot) {
      bot.queue = bot.queue.filter((q) => bot.allowedUpdates.has(this.updateType(q.update)));
      const item = bot.queue[0];
      if (!item) return;
      const hook = bot.webhook;
      const attempt: WebhookAttempt = {
        time: now(),
        token: bot.token,
        url: hook.url,
        update_id: item.update.update_id,
      };
      this.webhookLog.push(attempt);
      try {
        const response = await fetch(hook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(hook.secret ? { 'x-telegram-bot-api-secret-token': hook.secret } : {}),
          },
          body: JSON.stringify(item.update),
          signal: AbortSignal.any([
            this.abort.signal,
            AbortSignal.timeout(this.options.webhookTimeoutMs ?? 10_000),
          ]),
        });
        await response.arrayBuffer().catch(() => undefined);
        attempt.status = response.status;
        if (response.status < 200 || response.status > 299) {
          attempt.error = `Wrong response from the webhook: ${response.status} ${response.statusText}`;
        }
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause;
        attempt.error =
          cause?.code === 'ECONNREFUSED'
            ? 'Connection refused'
            : (error as Error).name === 'TimeoutError'
              ? 'Read timeout expired'
              : `Failed to connect: ${(error as Error).message}`;
      }
      if (this.closed) return;
      if (attempt.error === undefined) {
        this.counters.webhookDeliveries++;
        bot.queue = bot.queue.filter((q) => q !== item);
        delay = this.options.webhookRetryDelayMs ?? 100;
      } else {
        this.counters.webhookFailures++;
        hook.lastErrorDate = unixTime();
        hook.lastErrorMessage = attempt.error;
        this.log(`webhook ${hook.url} → ${attempt.error}`);
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.options.webhookMaxRetryDelayMs ?? 2_000);
      }
    }
  }

  private sendMessage(ctx: CallContext): TgMessage {
    const { bot, params } = ctx;
    const chat = this.chatForSend(bot, params.chat_id);
    const text = asString(params.text) ?? '';
    const parseMode = asString(params.parse_mode);
    if (text.trim() === '') throw new TgError(400, 'Bad Request: message text is empty');
    const parsed = this.parseOrThrow(text, parseMode, params.entities);
    if (parsed.text.trim() === '') throw new TgError(400, 'Bad Request: message text is empty');
    if (parsed.text.length > 4096) throw new TgError(400, 'Bad Request: message is too long');
    const common = this.commonSendOptions(params);
    this.checkRateLimits(bot, chat);
    const result: TgMessage = {
      ...this.resultBase(bot, chat, common.message_thread_id),
      text: parsed.text,
      ...(parsed.entities.length ? { entities: parsed.entities } : {}),
      ...(common.link_preview_options ? { link_preview_options: common.link_preview_options } : {}),
      ...(common.inlineMarkup ? { reply_markup: common.inlineMarkup } : {}),
    };
    return this.record(ctx, chat, result, {
      text,
      parse_mode: parseMode,
      plainText: parsed.text,
      entities: parsed.entities,
      ...common.flags,
    });
  }

  private sendFile(ctx: CallContext, kind: 'document' | 'photo'): TgMessage {
    const { bot, params } = ctx;
    const chat = this.chatForSend(bot, params.chat_id);
    const file = this.resolveInputFile(ctx, kind);
    const caption = asString(params.caption);
    const parseMode = asString(params.parse_mode);
    const parsed = caption
      ? this.parseOrThrow(caption, parseMode, params.caption_entities)
      : { text: '', entities: [] as MessageEntity[] };
    if (parsed.text.length > 1024)
      throw new TgError(400, 'Bad Request: message caption is too long');
    const common = this.commonSendOptions(params);
    this.checkRateLimits(bot, chat);
    const stored = this.storeFile(file, kind);
    const result: TgMessage = {
      ...this.resultBase(bot, chat, common.message_thread_id),
      ...(kind === 'document'
        ? {
            document: {
              file_id: stored.file_id,
              file_unique_id: stored.file_unique_id,
              ...(stored.file_name ? { file_name: stored.file_name } : {}),
              ...(stored.mime_type ? { mime_type: stored.mime_type } : {}),
              file_size: stored.file_size,
            },
          }
        : {
            photo: [
              {
                file_id: `${stored.file_id}_s`,
                file_unique_id: `${stored.file_unique_id}s`,
                width: 90,
                height: 90,
                file_size: Math.min(stored.file_size, 1500),
              },
              {
                file_id: stored.file_id,
                file_unique_id: stored.file_unique_id,
                width: 800,
                height: 800,
                file_size: stored.file_size,
              },
            ],
          }),
      ...(caption ? { caption: parsed.text } : {}),
      ...(parsed.entities.length ? { caption_entities: parsed.entities } : {}),
      ...(common.inlineMarkup ? { reply_markup: common.inlineMarkup } : {}),
    };
    const recorded: RecordedFile = {
      file_id: stored.file_id,
      file_unique_id: stored.file_unique_id,
      file_size: stored.file_size,
      ...(stored.file_name ? { file_name: stored.file_name } : {}),
      ...(stored.mime_type ? { mime_type: stored.mime_type } : {}),
      ...(stored.sha256 ? { sha256: stored.sha256 } : {}),
      ...(stored.url ? { url: stored.url } : {}),
    };
    return this.record(ctx, chat, result, {
      ...(caption !== undefined ? { caption } : {}),
      parse_mode: parseMode,
      plainText: parsed.text,
      entities: parsed.entities,
      [kind]: recorded,
      ...common.flags,
    });
  }

  private resolveInputFile(
    ctx: CallContext,
    kind: 'document' | 'photo',
  ): { data?: Buffer; name?: string; mime?: string; existing?: StoredFile; url?: string } {
    const upload = ctx.files.get(kind);
    if (upload) return { data: upload.data, name: upload.filename, mime: upload.contentType };
    const value = asString(ctx.params[kind]);
    if (value === undefined || value === '') {
      throw new TgError(400, `Bad Request: there is no ${kind} in the request`);
    }
    const attach = /^attach:\/\/(.+)$/.exec(value);
    if (attach) {
      const part = ctx.files.get(attach[1] as string);
      if (!part) throw new TgError(400, `Bad Request: there is no ${kind} in the request`);
      return { data: part.data, name: part.filename, mime: part.contentType };
    }
    if (/^https?:\/\//i.test(value)) {
      return {
        url: value,
        name: decodeURIComponent(new URL(value).pathname.split('/').pop() ?? '') || undefined,
      };
    }
    const existing = this.files.get(value) ?? this.files.get(value.replace(/_s$/, ''));
    if (!existing) throw new TgError(400, 'Bad Request: wrong file identifier/HTTP URL specified');
    return { existing };
  }

  private storeFile(
    file: { data?: Buffer; name?: string; mime?: string; existing?: StoredFile; url?: string },
    kind: 'document' | 'photo',
  ): StoredFile {
    if (file.existing) return file.existing;
    const no = this.nextFileNo++;
    const prefix = kind === 'photo' ? 'AgAC' : 'BQAC';
    const name = file.name || undefined;
    const ext = name?.includes('.')
      ? name.slice(name.lastIndexOf('.'))
      : kind === 'photo'
        ? '.jpg'
        : '';
    const stored: StoredFile = {
      file_id: `${prefix}${randomToken(40)}${no}`,
      file_unique_id: `AQAD${randomToken(12)}`,
      file_size: file.data?.length ?? 0,
      file_path: `${kind === 'photo' ? 'photos' : 'documents'}/file_${no}${ext}`,
      ...(name && kind === 'document' ? { file_name: name } : {}),
      ...(kind === 'document'
        ? {
            mime_type:
              file.mime && file.mime !== 'application/octet-stream' ? file.mime : guessMime(name),
          }
        : {}),
      ...(file.data
        ? { data: file.data, sha256: createHash('sha256').update(file.data).digest('hex') }
        : {}),
      ...(file.url ? { url: file.url } : {}),
    };
    this.files.set(stored.file_id, stored);
    return stored;
  }

  private getFile(ctx: CallContext): Record<string, unknown> {
    const id = asString(ctx.params.file_id) ?? '';
    const file = this.files.get(id) ?? this.files.get(id.replace(/_s$/, ''));
    if (!file) throw new TgError(400, 'Bad Request: invalid file_id');
    return {
      file_id: id,
      file_unique_id: file.file_unique_id,
      file_size: file.file_size,
      file_path: file.file_path,
    };
  }

  private parseOrThrow(
    text: string,
    parseMode: string | undefined,
    explicitEntities: unknown,
  ): { text: string; entities: MessageEntity[] } {
    if (explicitEntities !== undefined && (parseMode === undefined || parseMode === '')) {
      const list = asJson(explicitEntities, 'message entities');
      return { text, entities: Array.isArray(list) ? (list as MessageEntity[]) : [] };
    }
    const parsed = parseText(text, parseMode);
    if (!parsed.ok) throw new TgError(400, `Bad Request: can't parse entities: ${parsed.error}`);
    return { text: parsed.text, entities: parsed.entities };
  }

  private commonSendOptions(params: Record<string, unknown>): {
    message_thread_id?: number;
    link_preview_options?: Record<string, unknown>;
    inlineMarkup?: unknown;
    flags: Pick<
      SentMessage,
      | 'disable_notification'
      | 'protect_content'
      | 'link_preview_disabled'
      | 'link_preview_options'
      | 'reply_markup'
      | 'message_thread_id'
    >;
  } {
    const lpo =
      params.link_preview_options === undefined
        ? undefined
        : (asJson(params.link_preview_options, 'link preview options') as Record<string, unknown>);
    const markup =
      params.reply_markup === undefined
        ? undefined
        : asJson(params.reply_markup, 'reply keyboard markup');
    if (markup !== undefined && (markup === null || typeof markup !== 'object')) {
      throw new TgError(400, "Bad Request: can't parse reply keyboard markup JSON object");
    }
    const thread =
      params.message_thread_id === undefined ? undefined : asInt(params.message_thread_id, 0);
    const linkPreviewDisabled =
      asBool(params.disable_web_page_preview) || lpo?.is_disabled === true;
    return {
      ...(thread !== undefined ? { message_thread_id: thread } : {}),
      ...(lpo ? { link_preview_options: lpo } : {}),
      ...(markup && 'inline_keyboard' in markup ? { inlineMarkup: markup } : {}),
      flags: {
        disable_notification: asBool(params.disable_notification),
        protect_content: asBool(params.protect_content),
        link_preview_disabled: linkPreviewDisabled,
        ...(lpo ? { link_preview_options: lpo } : {}),
        ...(markup !== undefined ? { reply_markup: markup } : {}),
        ...(thread !== undefined ? { message_thread_id: thread } : {}),
      },
    };
  }

  private resultBase(bot: BotState, chat: ChatState, thread: number | undefined): TgMessage {
    return {
      message_id: chat.nextMessageId++,
      ...(chat.type === 'channel'
        ? { sender_chat: this.chatShape(chat) }
        : { from: this.botUser(bot) }),
      chat: this.chatShape(chat),
      date: unixTime(),
      ...(thread !== undefined && chat.type === 'supergroup' ? { message_thread_id: thread } : {}),
    };
  }

  private record(
    ctx: CallContext,
    chat: ChatState,
    result: TgMessage,
    fields: Partial<SentMessage> &
      Pick<
        SentMessage,
        | 'plainText'
        | 'entities'
        | 'disable_notification'
        | 'protect_content'
        | 'link_preview_disabled'
      >,
  ): TgMessage {
    const message: SentMessage = {
      token: ctx.bot.token,
      botId: ctx.bot.id,
      method: ctx.method,
      message_id: result.message_id,
      chat_id: chat.id,
      chat_type: chat.type,
      date: result.date,
      ...fields,
      droppedAfterAccept: ctx.dropAfterAccept,
      result,
    };
    if (message.parse_mode === undefined) delete message.parse_mode;
    this.sent.push(message);
    this.counters.messagesSent++;
    for (const waiter of [...this.messageWaiters]) waiter();
    return result;
  }

  private getChat(ctx: CallContext): TgChatFullInfo {
    const chat = this.chatForAccess(ctx.bot, ctx.params.chat_id, false);
    return { ...this.chatShape(chat), accent_color_id: 0, max_reaction_count: 11 };
  }

  private getChatMember(ctx: CallContext): TgChatMember {
    const chat = this.chatForAccess(ctx.bot, ctx.params.chat_id, false);
    const userId = asInt(ctx.params.user_id, NaN);
    if (userId === ctx.bot.id) {
      return this.member(this.botUser(ctx.bot), chat.members.get(ctx.bot.id) ?? 'left', chat.type);
    }
    const user = this.users.get(userId);
    if (!user) throw new TgError(400, 'Bad Request: user not found');
    if (chat.type === 'private') {
      if (chat.id !== userId) throw new TgError(400, 'Bad Request: user not found');
      return this.member(user, 'member', chat.type);
    }
    return this.member(user, 'member', chat.type);
  }

  private commandsKey(params: Record<string, unknown>): string {
    const scope = params.scope === undefined ? { type: 'default' } : asJson(params.scope, 'scope');
    return `${JSON.stringify(scope)}|${asString(params.language_code) ?? ''}`;
  }

  private setMyCommands(ctx: CallContext): boolean {
    const list = asJson(ctx.params.commands, 'commands');
    if (!Array.isArray(list))
      throw new TgError(400, "Bad Request: can't parse commands JSON object");
    if (list.length > 100) throw new TgError(400, 'Bad Request: too many commands');
    const commands = list.map((c: unknown) => {
      const { command, description } = (c ?? {}) as { command?: unknown; description?: unknown };
      if (typeof command !== 'string' || !/^[a-z0-9_]{1,32}$/.test(command)) {
        throw new TgError(400, 'Bad Request: BOT_COMMAND_INVALID');
      }
      if (typeof description !== 'string' || description.length < 1 || description.length > 256) {
        throw new TgError(400, 'Bad Request: BOT_COMMAND_DESCRIPTION_INVALID');
      }
      return { command, description };
    });
    ctx.bot.commands.set(this.commandsKey(ctx.params), commands);
    return true;
  }

  private answerCallbackQuery(ctx: CallContext): boolean {
    const id = asString(ctx.params.callback_query_id) ?? '';
    const query = this.callbackQueries.get(id);
    if (!query || query.botId !== ctx.bot.id || query.answered) {
      throw new TgError(
        400,
        'Bad Request: query is too old and response timeout expired or query ID is invalid',
      );
    }
    if ((asString(ctx.params.text) ?? '').length > 200) {
      throw new TgError(400, 'Bad Request: MESSAGE_TOO_LONG');
    }
    query.answered = true;
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Chat access and rate limits

  /** Resolves a chat the bot may send to, or throws Telegram's error. */
  private chatForSend(bot: BotState, rawChatId: unknown): ChatState {
    return this.chatForAccess(bot, rawChatId, true);
  }

  private chatForAccess(bot: BotState, rawChatId: unknown, sending: boolean): ChatState {
    if (rawChatId === undefined || rawChatId === null || rawChatId === '') {
      throw new TgError(400, 'Bad Request: chat_id is empty');
    }
    const raw = String(rawChatId).trim();
    let chat: ChatState | undefined;
    if (raw.startsWith('@')) {
      const name = raw.slice(1).toLowerCase();
      chat = [...this.chats.values()].find(
        (c) => c.type !== 'private' && c.username?.toLowerCase() === name,
      );
    } else if (/^-?\d+$/.test(raw)) {
      chat = this.chats.get(Number(raw));
    }
    if (!chat) {
      if (/^\d+$/.test(raw) && this.users.has(Number(raw))) {
        throw new TgError(403, "Forbidden: bot can't initiate conversation with a user");
      }
      throw new TgError(400, 'Bad Request: chat not found');
    }
    const status = chat.members.get(bot.id);
    if (status === undefined) {
      if (chat.type === 'private') {
        throw new TgError(403, "Forbidden: bot can't initiate conversation with a user");
      }
      throw new TgError(400, 'Bad Request: chat not found');
    }
    if (chat.migratedTo !== undefined && sending) {
      throw new TgError(400, 'Bad Request: group chat was upgraded to a supergroup chat', {
        migrate_to_chat_id: chat.migratedTo,
      });
    }
    if (status === 'kicked') {
      if (chat.type === 'private') throw new TgError(403, 'Forbidden: bot was blocked by the user');
      throw new TgError(403, `Forbidden: bot was kicked from the ${chatKindName(chat.type)} chat`);
    }
    if (status === 'left') {
      throw new TgError(
        403,
        `Forbidden: bot is not a member of the ${chatKindName(chat.type)} chat`,
      );
    }
    if (sending && chat.type === 'channel' && status !== 'administrator' && status !== 'creator') {
      throw new TgError(400, 'Bad Request: need administrator rights in the channel chat');
    }
    return chat;
  }

  /** Throws 429 when a send would break a limit; otherwise consumes one unit of each. */
  private checkRateLimits(bot: BotState, chat: ChatState): void {
    const t = now();
    const { perBot, perChat, perGroup } = this.limits;
    let waitMs = 0;

    if (perBot) {
      bot.sentTimes = bot.sentTimes.filter((s) => s > t - perBot.windowMs);
      if (bot.sentTimes.length >= perBot.max) {
        const oldest = bot.sentTimes[bot.sentTimes.length - perBot.max] as number;
        waitMs = Math.max(waitMs, oldest + perBot.windowMs - t);
      }
    }
    const key = `${bot.id}:${chat.id}`;
    let bucket: { tokens: number; at: number } | undefined;
    if (perChat) {
      bucket = this.buckets.get(key) ?? { tokens: perChat.capacity, at: t };
      bucket.tokens = Math.min(
        perChat.capacity,
        bucket.tokens + ((t - bucket.at) / 1000) * perChat.refillPerSecond,
      );
      bucket.at = t;
      this.buckets.set(key, bucket);
      if (bucket.tokens < 1) {
        waitMs = Math.max(waitMs, ((1 - bucket.tokens) / perChat.refillPerSecond) * 1000);
      }
    }
    let groupTimes: number[] | undefined;
    if (perGroup && chat.id < 0) {
      groupTimes = (this.groupTimes.get(key) ?? []).filter((s) => s > t - perGroup.windowMs);
      this.groupTimes.set(key, groupTimes);
      if (groupTimes.length >= perGroup.max) {
        const oldest = groupTimes[groupTimes.length - perGroup.max] as number;
        waitMs = Math.max(waitMs, oldest + perGroup.windowMs - t);
      }
    }
    if (waitMs > 0) {
      const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
      this.counters.rateLimited++;
      throw new TgError(429, `Too Many Requests: retry after ${retryAfter}`, {
        retry_after: retryAfter,
      });
    }
    if (perBot) bot.sentTimes.push(t);
    if (bucket) bucket.tokens -= 1;
    groupTimes?.push(t);
  }

  // ------------------------------------------------------------------------------------------
  // State helpers

  private enqueue(bot: BotState, partial: Omit<TgUpdate, 'update_id'>): TgUpdate {
    const update = { update_id: bot.nextUpdateId++, ...partial } as TgUpdate;
    bot.history.set(update.update_id, update);
    bot.queue.push({ update, repeat: false });
    this.notifyBot(bot);
    return update;
  }

  private notifyBot(bot: BotState): void {
    bot.poller?.wake();
    this.kickWebhook(bot);
  }

  private setBlocked(bot: BotState, chat: ChatState, user: TgUser, blocked: boolean): TgUpdate {
    const oldStatus = chat.members.get(bot.id) ?? 'member';
    const newStatus: ChatMemberStatus = blocked ? 'kicked' : 'member';
    chat.members.set(bot.id, newStatus);
    return this.enqueue(bot, {
      my_chat_member: this.memberUpdate(bot, chat, user, oldStatus, newStatus),
    });
  }

  private memberUpdate(
    bot: BotState,
    chat: ChatState,
    by: TgUser,
    oldStatus: ChatMemberStatus,
    newStatus: ChatMemberStatus,
  ): TgChatMemberUpdated {
    const botUser = this.botUser(bot);
    return {
      chat: this.chatShape(chat),
      from: by,
      date: unixTime(),
      old_chat_member: this.member(botUser, oldStatus, chat.type),
      new_chat_member: this.member(botUser, newStatus, chat.type),
    };
  }

  private member(user: TgUser, status: ChatMemberStatus, chatType: ChatType): TgChatMember {
    if (status === 'kicked') return { user, status, until_date: 0 };
    if (status === 'administrator') {
      return {
        user,
        status,
        can_be_edited: false,
        is_anonymous: false,
        can_manage_chat: true,
        can_delete_messages: true,
        can_manage_video_chats: true,
        can_restrict_members: true,
        can_promote_members: false,
        can_change_info: true,
        can_invite_users: true,
        can_post_stories: false,
        can_edit_stories: false,
        can_delete_stories: false,
        ...(chatType === 'channel'
          ? { can_post_messages: true, can_edit_messages: true }
          : { can_pin_messages: true, can_manage_topics: false }),
      };
    }
    return { user, status };
  }

  private createChat(init: ChatInit): ChatState {
    let id = init.id;
    if (id === undefined) {
      if (init.type === 'private')
        id = this.user({ firstName: init.firstName, username: init.username }).id;
      else if (init.type === 'group') id = -this.nextGroupId++;
      else id = Number(`-100${this.nextSuperId++}`);
    }
    if (this.chats.has(id)) throw new Error(`chat ${id} exists`);
    if (init.type === 'private' ? id <= 0 : id >= 0) {
      throw new Error(
        `a ${init.type} chat id must be ${init.type === 'private' ? 'positive' : 'negative'}`,
      );
    }
    const chat: ChatState = {
      id,
      type: init.type,
      members: new Map(),
      nextMessageId: 1,
      ...(init.type === 'private'
        ? {
            firstName: init.firstName ?? this.users.get(id)?.first_name ?? `User ${id}`,
            ...((init.username ?? this.users.get(id)?.username)
              ? { username: init.username ?? this.users.get(id)?.username }
              : {}),
            ...(init.lastName ? { lastName: init.lastName } : {}),
          }
        : {
            title: init.title ?? `Fake ${init.type} ${Math.abs(id)}`,
            ...(init.username ? { username: init.username } : {}),
          }),
    };
    if (chat.type === 'private' && !this.users.has(id)) {
      this.user({
        id,
        firstName: chat.firstName,
        username: chat.username,
        lastName: chat.lastName,
      });
    }
    this.chats.set(id, chat);
    return chat;
  }

  private privateChat(user: TgUser): ChatState {
    return (
      this.chats.get(user.id) ??
      this.createChat({
        id: user.id,
        type: 'private',
        firstName: user.first_name,
        ...(user.username ? { username: user.username } : {}),
        ...(user.last_name ? { lastName: user.last_name } : {}),
      })
    );
  }

  /** Finds or registers a user. */
  private user(init: number | UserInit | undefined): TgUser {
    if (typeof init === 'number') {
      return this.users.get(init) ?? this.user({ id: init });
    }
    const id = init?.id ?? this.nextUserId++;
    const existing = this.users.get(id);
    if (existing && (!init || (!init.firstName && !init.username))) return existing;
    const user: TgUser = {
      id,
      is_bot: false,
      first_name: init?.firstName ?? existing?.first_name ?? `User ${id}`,
      ...((init?.lastName ?? existing?.last_name)
        ? { last_name: init?.lastName ?? existing?.last_name }
        : {}),
      ...((init?.username ?? existing?.username)
        ? { username: init?.username ?? existing?.username }
        : {}),
      ...((init?.languageCode ?? existing?.language_code)
        ? { language_code: init?.languageCode ?? existing?.language_code }
        : {}),
    };
    this.users.set(id, user);
    return user;
  }

  private requireBot(token: string): BotState {
    const bot = this.bots.get(token);
    if (!bot) throw new Error(`unknown bot token ${token}`);
    return bot;
  }

  private botById(id: number): BotState | undefined {
    return [...this.bots.values()].find((b) => b.id === id);
  }

  private requireChat(id: number): ChatState {
    const chat = this.chats.get(Number(id));
    if (!chat) throw new Error(`unknown chat ${id}`);
    return chat;
  }

  private botUser(bot: BotState): TgUser {
    return { id: bot.id, is_bot: true, first_name: bot.firstName, username: bot.username };
  }

  private botInfo(bot: BotState): TgBotInfo {
    return {
      id: bot.id,
      is_bot: true,
      first_name: bot.firstName,
      username: bot.username,
      can_join_groups: true,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
      can_connect_to_business: false,
      has_main_web_app: false,
    };
  }

  private chatShape(chat: ChatState): TgChat {
    return {
      id: chat.id,
      type: chat.type,
      ...(chat.title !== undefined ? { title: chat.title } : {}),
      ...(chat.username !== undefined ? { username: chat.username } : {}),
      ...(chat.firstName !== undefined ? { first_name: chat.firstName } : {}),
      ...(chat.lastName !== undefined ? { last_name: chat.lastName } : {}),
    };
  }

  private chatInfo(chat: ChatState): ChatInfo {
    return {
      ...this.chatShape(chat),
      members: Object.fromEntries(chat.members),
      ...(chat.migratedTo !== undefined ? { migratedTo: chat.migratedTo } : {}),
      ...(chat.migratedFrom !== undefined ? { migratedFrom: chat.migratedFrom } : {}),
    };
  }

  private emptyStats(): FakeTelegramStats {
    return {
      requests: {},
      totalRequests: 0,
      messagesSent: 0,
      tooManyRequests: 0,
      rateLimited: 0,
      errors: 0,
      errorsByCode: {},
      dropped: 0,
      faultsInjected: 0,
      webhookDeliveries: 0,
      webhookFailures: 0,
    };
  }
}

function guessMime(name: string | undefined): string {
  const ext = name?.split('.').pop()?.toLowerCase();
  const types: Record<string, string> = {
    pdf: 'application/pdf',
    txt: 'text/plain',
    html: 'text/html',
    eml: 'message/rfc822',
    json: 'application/json',
    csv: 'text/csv',
    zip: 'application/zip',
    png: 'image/png',
    jpg: 'image/jpeg',
    jpeg: 'image/jpeg',
  };
  return (ext && types[ext]) || 'application/octet-stream';
}

/** Starts a fake Telegram Bot API server (port 0 = a free port). */
export async function startFakeTelegram(options: FakeTelegramOptions = {}): Promise<FakeTelegram> {
  const fake = new FakeTelegram(options);
  await fake.listen();
  return fake;
}
