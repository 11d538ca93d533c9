import { httpRequest } from './http-client.js';
import type { ClaimedDelivery, DeliveryResult, InternalApi } from './sender.js';

/** The api answered 401: this runner's credential was replaced (a newer runner took over) or revoked. */
export class RunnerSupersededError extends Error {
  constructor() {
    super('runner credential no longer valid');
  }
}

/** The api answered with an error status (a 5xx may pass; a 4xx will not). */
export class InternalApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type RunnerBot = {
  botId: string;
  name: string;
  mode: 'polling' | 'webhook';
  token: string;
  allowedUpdates: string[];
  webhookUrl: string;
};
export type TelegramChat = {
  id: number;
  type: 'private' | 'group' | 'supergroup' | 'channel';
  title?: string | undefined;
  username?: string | undefined;
  first_name?: string | undefined;
  last_name?: string | undefined;
};
export type ChatSummary = {
  known: boolean;
  status?: string;
  title?: string | null;
  rules?: Array<{ name: string; enabled: boolean }>;
};
export type Update = { update_id: number } & Record<string, unknown>;

/** Everything a runner asks of the api: its only window on NotifyPro's state. */
export type RunnerApi = InternalApi & {
  claim(limit: number, waitMs: number, signal?: AbortSignal): Promise<ClaimedDelivery[]>;
  attachment(id: string): Promise<Uint8Array>;
  bot(): Promise<RunnerBot>;
  heartbeat(status: 'running' | 'error', error: string | null): Promise<{ enabled: boolean }>;
  storeUpdates(updates: Update[]): Promise<number>;
  claimUpdates(limit: number, waitMs: number, signal?: AbortSignal): Promise<Update[]>;
  updatesDone(updateIds: number[]): Promise<void>;
  chatSeen(input: {
    chat: TelegramChat;
    status: 'active' | 'inactive';
    reason?: string | null;
    language?: string | null;
  }): Promise<void>;
  chatMigrated(fromChatId: number, toChatId: number): Promise<void>;
  chatSummary(telegramChatId: number): Promise<ChatSummary>;
};

export function createRunnerApi(baseUrl: string, runnerToken: string): RunnerApi {
  const call = async (
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ) => {
    const res = await httpRequest(method, `${baseUrl}/internal/v1${path}`, {
      headers: {
        authorization: `Bearer ${runnerToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal ? { signal } : {}),
    });
    if (res.status === 401) throw new RunnerSupersededError();
    if (res.status < 200 || res.status >= 300)
      throw new InternalApiError(
        res.status,
        `internal API ${path}: ${res.status} ${res.body.toString('utf8')}`,
      );
    return res;
  };
  const json = async (
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ) => {
    const res = await call(method, path, body, signal);
    return res.status === 204 || !res.body.length
      ? null
      : (JSON.parse(res.body.toString('utf8')) as unknown);
  };
  return {
    bot: async () => (await json('GET', '/runner/bot')) as RunnerBot,
    heartbeat: async (status, error) =>
      (await json('POST', '/runner/heartbeat', { status, error })) as { enabled: boolean },
    storeUpdates: async (updates) =>
      ((await json('POST', '/runner/updates', { updates })) as { stored: number }).stored,
    claimUpdates: async (limit, waitMs, signal) =>
      (
        (await json('POST', '/runner/updates/claim', { limit, waitMs }, signal)) as {
          updates: Update[];
        }
      ).updates,
    updatesDone: async (updateIds) => {
      await json('POST', '/runner/updates/done', { updateIds });
    },
    chatSeen: async (input) => {
      await json('POST', '/runner/chats/seen', input);
    },
    chatMigrated: async (fromChatId, toChatId) => {
      await json('POST', '/runner/chats/migrate', { fromChatId, toChatId });
    },
    chatSummary: async (id) => (await json('GET', `/runner/chats/${id}/summary`)) as ChatSummary,
    claim: async (limit, waitMs, signal?: AbortSignal) =>
      (
        (await json('POST', '/deliveries/claim', { limit, waitMs }, signal)) as {
          deliveries: ClaimedDelivery[];
        }
      ).deliveries,
    renew: async (ids: string[]) =>
      (await json('POST', '/deliveries/renew', { ids })) as { renewed: number; leaseMs: number },
    report: async (id: string, result: DeliveryResult) =>
      (await json('POST', `/deliveries/${id}/result`, result)) as { status: string },
    attachment: async (id: string) =>
      new Uint8Array((await call('GET', `/attachments/${id}`)).body),
  };
}
