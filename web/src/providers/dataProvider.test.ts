import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HttpError } from 'react-admin';
import { dataProvider, listQuery } from './dataProvider';
import { fieldNameFromPath, problemFieldErrors } from './http';
import { session } from './session';

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

let calls: Call[] = [];
let answer: { status: number; body?: unknown; type?: string } = { status: 200, body: {} };

beforeEach(() => {
  calls = [];
  localStorage.clear();
  session.setToken('tok-1');
  session.setOrgId('org-7');
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    calls.push({
      url,
      method: init.method ?? 'GET',
      headers: init.headers as Record<string, string>,
      body: init.body ? JSON.parse(String(init.body)) : undefined,
    });
    const text = answer.body === undefined ? '' : JSON.stringify(answer.body);
    return new Response(answer.status === 204 ? null : text, {
      status: answer.status,
      headers: { 'Content-Type': answer.type ?? 'application/json' },
    });
  });
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('getList', () => {
  it('sends offset, limit, sort, order, q and filters under the current org with the bearer token', async () => {
    answer = { status: 200, body: { items: [{ id: 42, status: 'dead' }], total: 130 } };
    const result = await dataProvider.getList('deliveries', {
      pagination: { page: 3, perPage: 50 },
      sort: { field: 'createdAt', order: 'DESC' },
      filter: { q: 'disk', status: 'dead', chatId: 'c1', empty: '' },
    });
    const url = new URL(calls[0]!.url, 'http://x');
    expect(url.pathname).toBe('/api/v1/orgs/org-7/deliveries');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      offset: '100',
      limit: '50',
      sort: 'createdAt',
      order: 'desc',
      q: 'disk',
      status: 'dead',
      chatId: 'c1',
    });
    expect(calls[0]!.headers.Authorization).toBe('Bearer tok-1');
    expect(result).toEqual({ data: [{ id: '42', status: 'dead' }], total: 130 });
  });

  it('keys members by userId and reaches the superadmin lists outside the org', async () => {
    answer = {
      status: 200,
      body: { items: [{ userId: 'u1', email: 'a@b.c', role: 'admin' }], total: 1 },
    };
    const members = await dataProvider.getList('members', {
      pagination: { page: 1, perPage: 10 },
      sort: { field: 'name', order: 'ASC' },
      filter: {},
    });
    expect(members.data[0]!.id).toBe('u1');
    await dataProvider.getList('admin-orgs', {
      pagination: { page: 1, perPage: 10 },
      sort: { field: 'name', order: 'ASC' },
      filter: {},
    });
    expect(new URL(calls[1]!.url, 'http://x').pathname).toBe('/api/v1/admin/orgs');
  });

  it('turns a many-reference into a filter', async () => {
    answer = { status: 200, body: { items: [], total: 0 } };
    await dataProvider.getManyReference('events', {
      target: 'webhookId',
      id: 'w1',
      pagination: { page: 1, perPage: 10 },
      sort: { field: 'createdAt', order: 'DESC' },
      filter: {},
    });
    expect(new URL(calls[0]!.url, 'http://x').searchParams.get('webhookId')).toBe('w1');
  });
});

describe('writes', () => {
  it('PATCHes only the fields that changed', async () => {
    answer = { status: 200, body: { id: 'b1', name: 'New', mode: 'polling' } };
    const out = await dataProvider.update('bots', {
      id: 'b1',
      data: { id: 'b1', name: 'New', mode: 'polling', tokenHint: '…AbC1' },
      previousData: { id: 'b1', name: 'Old', mode: 'polling', tokenHint: '…AbC1' },
    });
    expect(calls[0]).toMatchObject({
      url: '/api/v1/orgs/org-7/bots/b1',
      method: 'PATCH',
      body: { name: 'New' },
    });
    expect(out.data.name).toBe('New');
  });

  it('creates with POST and returns the server record (a new API key value included)', async () => {
    answer = { status: 201, body: { id: 'k1', name: 'ci', role: 'viewer', key: 'np_live_secret' } };
    const out = await dataProvider.create('api-keys', { data: { name: 'ci', role: 'viewer' } });
    expect(calls[0]).toMatchObject({
      url: '/api/v1/orgs/org-7/api-keys',
      method: 'POST',
      body: { name: 'ci', role: 'viewer' },
    });
    expect(out.data).toMatchObject({ id: 'k1', key: 'np_live_secret' });
  });

  it('deletes with DELETE and accepts 204', async () => {
    answer = { status: 204 };
    await dataProvider.delete('members', { id: 'u9', previousData: { id: 'u9' } });
    expect(calls[0]).toMatchObject({ url: '/api/v1/orgs/org-7/members/u9', method: 'DELETE' });
  });

  it('calls record actions such as retry, start and test', async () => {
    answer = { status: 200, body: { ok: false, error: 'AUTHENTICATIONFAILED' } };
    const res = await dataProvider.action('mailboxes', 'm1', 'test');
    expect(calls[0]).toMatchObject({ url: '/api/v1/orgs/org-7/mailboxes/m1/test', method: 'POST' });
    expect(res).toEqual({ ok: false, error: 'AUTHENTICATIONFAILED' });
    answer = { status: 202, body: {} };
    await dataProvider.action('deliveries', 'd1', 'retry');
    expect(calls[1]!.url).toBe('/api/v1/orgs/org-7/deliveries/d1/retry');
  });
});

describe('problem+json errors', () => {
  it('becomes an HttpError with detail as message and errors keyed by form field', async () => {
    answer = {
      status: 400,
      type: 'application/problem+json',
      body: {
        status: 400,
        title: 'Bad Request',
        detail: 'Validation failed',
        errors: [
          { path: 'token', message: 'Telegram rejected the token' },
          { path: '/conditions/1/value', message: 'Invalid regex' },
          { path: 'targets[0].chatId', message: 'Unknown chat' },
          { path: '', message: 'Something about the whole form' },
        ],
      },
    };
    const err = await dataProvider
      .create('bots', { data: { name: 'x', token: 'bad' } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    const httpError = err as HttpError;
    expect(httpError.status).toBe(400);
    expect(httpError.message).toBe('Validation failed');
    expect(httpError.body.errors).toEqual({
      token: 'Telegram rejected the token',
      'conditions.1.value': 'Invalid regex',
      'targets.0.chatId': 'Unknown chat',
      'root.serverError': 'Something about the whole form',
    });
  });

  it('keeps 401/403/409 statuses and titles without field errors', async () => {
    answer = { status: 409, body: { status: 409, title: 'Conflict' } };
    const err = (await dataProvider
      .create('members', { data: { email: 'a@b.c' } })
      .catch((e: unknown) => e)) as HttpError;
    expect(err.status).toBe(409);
    expect(err.message).toBe('Conflict');
    expect(err.body.errors).toBeUndefined();
  });

  it('maps path styles to dotted field names', () => {
    expect(fieldNameFromPath(['body', 'sources', 'mailboxIds', 0])).toBe('sources.mailboxIds.0');
    expect(fieldNameFromPath('body.name')).toBe('name');
    expect(
      problemFieldErrors({
        errors: [
          { path: 'a', message: 'x' },
          { path: 'a', message: 'y' },
        ],
      }),
    ).toEqual({ a: 'x; y' });
  });
});

describe('listQuery', () => {
  it('defaults to the first page and skips object filters', () => {
    expect(listQuery({ filter: { nested: { a: 1 }, ids: ['1', '2'] } })).toEqual({
      offset: 0,
      limit: 25,
      ids: ['1', '2'],
    });
  });
});
