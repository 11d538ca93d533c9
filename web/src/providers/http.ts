/** The one place the SPA talks HTTP to the API: bearer auth, JSON, problem+json → HttpError. */
import { HttpError } from 'react-admin';
import { session } from './session';

export const API_BASE = '/api/v1';

/** RFC 9457 problem details as the NotifyPro API sends them. */
export interface Problem {
  status?: number;
  title?: string;
  detail?: string;
  errors?: { path?: string | (string | number)[]; message: string }[];
}

/** Turns a validation error path (`conditions.0.value`, `/conditions/0/value`, `body.name`, `['a', 0]`) into a form field name. */
export function fieldNameFromPath(path: string | (string | number)[] | undefined): string {
  if (path === undefined) return '';
  const parts = Array.isArray(path)
    ? path.map(String)
    : path
        .replace(/^#?\//, '')
        .split(/[/.]|\[(\d+)\]/)
        .filter((p): p is string => p !== undefined && p !== '');
  // zod-style paths from the server may be rooted at the request part.
  if (parts[0] === 'body' && parts.length > 1) parts.shift();
  return parts.join('.');
}

/** Maps `errors: [{path, message}]` to react-admin's `{field: message}` (dotted names reach nested inputs). */
export function problemFieldErrors(problem: Problem): Record<string, string> | undefined {
  if (!Array.isArray(problem.errors) || problem.errors.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const e of problem.errors) {
    const name = fieldNameFromPath(e.path);
    const key = name === '' ? 'root.serverError' : name;
    out[key] = out[key] ? `${out[key]}; ${e.message}` : e.message;
  }
  return out;
}

/** Builds the HttpError react-admin understands: message for the notification, body.errors for the form. */
export function problemToHttpError(status: number, body: unknown): HttpError {
  const problem: Problem = body && typeof body === 'object' ? (body as Problem) : {};
  const message = problem.detail || problem.title || `HTTP ${status}`;
  const errors = problemFieldErrors(problem);
  return new HttpError(message, status, { ...problem, ...(errors ? { errors } : {}) });
}

export type Query = Record<
  string,
  string | number | boolean | (string | number)[] | null | undefined
>;

export function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) for (const v of value) params.append(key, String(v));
    else params.append(key, String(value));
  }
  const s = params.toString();
  return s ? `?${s}` : '';
}

export interface ApiRequest {
  method?: string;
  body?: unknown;
  query?: Query;
  signal?: AbortSignal;
}

/** The request as sent (bearer token, JSON body) and its answer; a network failure is an HttpError. */
async function send(path: string, req: ApiRequest): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json, application/problem+json' };
  const token = session.getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (req.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(req.body);
  }
  try {
    return await fetch(`${API_BASE}${path}${queryString(req.query)}`, {
      method: req.method ?? 'GET',
      headers,
      body,
      signal: req.signal,
    });
  } catch (err) {
    if ((err as Error)?.name === 'AbortError') throw err;
    throw new HttpError('ra.notification.http_error', 0, {});
  }
}

/** The answer's JSON (undefined when empty); a non-JSON body is kept as a problem's detail. */
function parsed(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text };
  }
}

/** Calls `/api/v1{path}`; resolves with the parsed JSON (undefined for 204), rejects with HttpError. */
export async function api<T = unknown>(path: string, req: ApiRequest = {}): Promise<T> {
  const res = await send(path, req);
  const json = parsed(await res.text());
  if (!res.ok) throw problemToHttpError(res.status, json);
  return json as T;
}

/**
 * Saves what `/api/v1{path}` answers as a file, under the name its Content-Disposition gives
 * (`fallbackName` without one); rejects with HttpError as `api` does.
 */
export async function download(path: string, fallbackName: string, req: ApiRequest = {}) {
  const res = await send(path, req);
  if (!res.ok) throw problemToHttpError(res.status, parsed(await res.text()));
  const named = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1];
  const url = URL.createObjectURL(await res.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = named ?? fallbackName;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
