/** react-admin's DataProvider over the NotifyPro REST contract (`{items,total}` lists, org-scoped paths). */
import type { DataProvider, Identifier, RaRecord } from 'react-admin';
import { api, type Query } from './http';
import { session } from './session';

/** Resources that do not live under `/orgs/{orgId}`, and the ones whose key is not `id`. */
const GLOBAL_PATHS: Record<string, string> = {
  'admin-orgs': '/admin/orgs',
  'admin-logs': '/admin/logs',
  orgs: '/orgs',
};
const ID_FIELDS: Record<string, string> = { members: 'userId' };

export class NoOrganizationError extends Error {
  constructor() {
    super('np.errors.no_org');
  }
}

export function resourcePath(resource: string): string {
  const global = GLOBAL_PATHS[resource];
  if (global) return global;
  const orgId = session.getOrgId();
  if (!orgId) throw new NoOrganizationError();
  return `/orgs/${encodeURIComponent(orgId)}/${resource}`;
}

/** Gives every record a string `id` (members are keyed by `userId`). */
export function normalizeRecord(resource: string, raw: unknown): RaRecord {
  const rec = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const key = ID_FIELDS[resource] ?? 'id';
  const id = rec[key] ?? rec.id;
  return { ...rec, id: id === undefined || id === null ? '' : String(id) } as RaRecord;
}

/** react-admin list params → the contract's `offset&limit&sort&order&q` plus filters. */
export function listQuery(params: {
  pagination?: { page: number; perPage: number };
  sort?: { field: string; order: string };
  filter?: Record<string, unknown>;
}): Query {
  const query: Query = {};
  const { page = 1, perPage = 25 } = params.pagination ?? {};
  query.offset = Math.max(0, (page - 1) * perPage);
  query.limit = perPage;
  if (params.sort?.field && params.sort.field !== 'id') {
    query.sort = params.sort.field;
    query.order = params.sort.order?.toLowerCase() === 'asc' ? 'asc' : 'desc';
  } else if (params.sort?.field === 'id') {
    query.sort = 'id';
    query.order = params.sort.order?.toLowerCase() === 'asc' ? 'asc' : 'desc';
  }
  for (const [key, value] of Object.entries(params.filter ?? {})) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) query[key] = value.map(String);
    else if (typeof value === 'object') continue;
    else query[key] = value as string | number | boolean;
  }
  return query;
}

/** Top-level fields of `data` that differ from `previous` (PATCH only what changed; secrets stay unsent). */
export function changedFields(
  data: Record<string, unknown>,
  previous: Record<string, unknown> | undefined,
): Record<string, unknown> {
  if (!previous) return data;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    if (key === 'id') continue;
    if (JSON.stringify(value) !== JSON.stringify(previous[key])) out[key] = value;
  }
  return out;
}

interface ListBody {
  items?: unknown[];
  total?: number;
}

/** Extra calls beyond CRUD: actions on a record (`start`, `test`, `retry`), stats, the org itself. */
export interface NotifyProDataProvider extends DataProvider {
  action<T = unknown>(resource: string, id: Identifier, action: string, body?: unknown): Promise<T>;
  stats<T = unknown>(query: { from: string; to: string }): Promise<T>;
}

const idPath = (resource: string, id: Identifier) =>
  `${resourcePath(resource)}/${encodeURIComponent(String(id))}`;

export const dataProvider: NotifyProDataProvider = {
  async getList(resource, params) {
    const body = await api<ListBody>(resourcePath(resource), {
      query: listQuery(params),
      signal: params.signal,
    });
    const items = Array.isArray(body?.items) ? body.items : [];
    return {
      data: items.map((r) => normalizeRecord(resource, r)) as never[],
      total: typeof body?.total === 'number' ? body.total : items.length,
    };
  },

  async getOne(resource, params) {
    const body = await api(idPath(resource, params.id), { signal: params.signal });
    return { data: normalizeRecord(resource, body) as never };
  },

  async getMany(resource, params) {
    // The contract has no batch read: fetch each, and skip the ones gone (deleted bot in a chat's list).
    const results = await Promise.allSettled(
      params.ids.map((id) => api(idPath(resource, id), { signal: params.signal })),
    );
    const data = results.flatMap((r) =>
      r.status === 'fulfilled' ? [normalizeRecord(resource, r.value)] : [],
    );
    return { data: data as never[] };
  },

  async getManyReference(resource, params) {
    const body = await api<ListBody>(resourcePath(resource), {
      query: listQuery({ ...params, filter: { ...params.filter, [params.target]: params.id } }),
      signal: params.signal,
    });
    const items = Array.isArray(body?.items) ? body.items : [];
    return {
      data: items.map((r) => normalizeRecord(resource, r)) as never[],
      total: typeof body?.total === 'number' ? body.total : items.length,
    };
  },

  async create(resource, params) {
    const body = await api(resourcePath(resource), { method: 'POST', body: params.data });
    return { data: normalizeRecord(resource, { ...params.data, ...(body as object) }) as never };
  },

  async update(resource, params) {
    const patch = changedFields(params.data as Record<string, unknown>, params.previousData);
    const body = await api(idPath(resource, params.id), { method: 'PATCH', body: patch });
    const merged = { ...params.previousData, ...params.data, ...(body as object | undefined) };
    return { data: normalizeRecord(resource, { ...merged, id: params.id }) as never };
  },

  async updateMany(resource, params) {
    await Promise.all(
      params.ids.map((id) => api(idPath(resource, id), { method: 'PATCH', body: params.data })),
    );
    return { data: params.ids };
  },

  async delete(resource, params) {
    await api(idPath(resource, params.id), { method: 'DELETE' });
    return { data: (params.previousData ?? { id: params.id }) as never };
  },

  async deleteMany(resource, params) {
    await Promise.all(params.ids.map((id) => api(idPath(resource, id), { method: 'DELETE' })));
    return { data: params.ids };
  },

  action(resource, id, action, body) {
    return api(`${idPath(resource, id)}/${action}`, { method: 'POST', body: body ?? {} });
  },

  stats(query) {
    const orgId = session.getOrgId();
    if (!orgId) return Promise.reject(new NoOrganizationError());
    return api(`/orgs/${encodeURIComponent(orgId)}/stats`, { query });
  },
};
