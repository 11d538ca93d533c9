import { GrammyError, HttpError } from 'grammy';
import { describe, expect, it } from 'vitest';
import { classifySendError } from './errors.js';

const api = (error_code: number, description: string, parameters = {}) =>
  new GrammyError(
    `Call to 'sendMessage' failed!`,
    { ok: false, error_code, description, parameters },
    'sendMessage',
    {},
  );

describe('classifySendError', () => {
  it.each([
    [api(429, 'Too Many Requests: retry after 3', { retry_after: 3 }), 'rate_limited'],
    [api(400, 'Bad Request: group chat was upgraded', { migrate_to_chat_id: -1001 }), 'migrated'],
    [api(400, "Bad Request: can't parse entities: Unclosed start tag"), 'unparseable'],
    [api(403, 'Forbidden: bot was kicked from the group chat'), 'chat_gone'],
    [api(403, 'Forbidden: bot was blocked by the user'), 'chat_gone'],
    [api(400, 'Bad Request: chat not found'), 'chat_gone'],
    [api(413, 'Request Entity Too Large'), 'too_large'],
    [api(502, 'Bad Gateway'), 'transient'],
    [api(400, 'Bad Request: message is too long'), 'rejected'],
    [new HttpError('Network request failed', new Error('socket hang up')), 'unknown'],
    [new Error('fetch of the file failed'), 'transient'],
  ])('%s → %s', (err, kind) => {
    expect(classifySendError(err).kind).toBe(kind);
  });

  it('carries retry_after in ms and the new chat id', () => {
    expect(classifySendError(api(429, 'x', { retry_after: 7 }))).toMatchObject({
      retryAfterMs: 7000,
    });
    expect(classifySendError(api(400, 'x', { migrate_to_chat_id: -100123 }))).toMatchObject({
      newChatId: -100123,
    });
  });
});
