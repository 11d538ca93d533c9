import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../test/app.js';
import { insertBot, insertChats, signup } from '../../../test/factories.js';

let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe('chats list', () => {
  it('pages, searches and sorts (?offset&limit&sort&order&q) and keeps the type and botId filters', async () => {
    const org = await signup(t);
    const bot = await insertBot(t, org.orgId);
    const rows: Array<[string | null, 'group' | 'channel' | 'private']> = [
      ['Gamma', 'group'],
      ['Alpha CI', 'channel'],
      ['Delta 100%', 'group'],
      [null, 'private'],
      ['Beta CI', 'group'],
    ];
    // one by one: "oldest first" needs distinct created_at
    for (const [title, type] of rows)
      await insertChats(t, org.orgId, [{ type, title }], {
        botIds: type === 'group' ? [bot.id] : [],
      });
    const list = async (query: string) => {
      const res = await t.request({
        method: 'GET',
        url: `/api/v1/orgs/${org.orgId}/chats?${query}`,
        token: org.token,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json() as { items: Array<{ title: string | null }>; total: number };
      return { titles: body.items.map((c) => c.title), total: body.total };
    };

    expect(await list('sort=title&order=asc&limit=2')).toEqual({
      titles: ['Alpha CI', 'Beta CI'],
      total: 5,
    });
    expect(await list('sort=title&order=asc&limit=2&offset=2')).toEqual({
      titles: ['Delta 100%', 'Gamma'],
      total: 5,
    });
    // untitled chats last in either order
    expect(await list('sort=title&order=asc&limit=2&offset=4')).toEqual({
      titles: [null],
      total: 5,
    });
    expect((await list('sort=title&order=desc')).titles).toEqual([
      'Gamma',
      'Delta 100%',
      'Beta CI',
      'Alpha CI',
      null,
    ]);
    // oldest first by default, as before
    expect((await list('limit=2')).titles).toEqual(['Gamma', 'Alpha CI']);
    expect(await list('q=ci&sort=title&order=asc')).toEqual({
      titles: ['Alpha CI', 'Beta CI'],
      total: 2,
    });
    expect(await list(`q=${encodeURIComponent('%')}`)).toEqual({
      titles: ['Delta 100%'],
      total: 1,
    });
    expect(await list('q=_')).toEqual({ titles: [], total: 0 });
    // the filters, with q and paging
    expect(await list('type=group&sort=title&order=asc&limit=1')).toEqual({
      titles: ['Beta CI'],
      total: 3,
    });
    expect(await list(`botId=${bot.id}&q=ci`)).toEqual({ titles: ['Beta CI'], total: 1 });

    const bad = await t.request({
      method: 'GET',
      url: `/api/v1/orgs/${org.orgId}/chats?sort=botIds`,
      token: org.token,
    });
    expect(bad.statusCode).toBe(400);
  });
});
