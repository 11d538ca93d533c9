/**
 * OAuth2 refresh-token grant (RFC 6749 §6) against a provider's token endpoint, for
 * XOAUTH2 mail logins. The endpoint is tenant-supplied: the connection goes to the address
 * the SSRF guard checked (no DNS rebinding), with TLS verified against the host name.
 */
import http from 'node:http';
import https from 'node:https';
import { MailConnectError, serverText } from './errors.js';
import { assertPublicMailHost } from './host-guard.js';

export interface OAuth2Client {
  tokenUrl: string;
  clientId: string;
  clientSecret?: string | undefined;
}

export interface OAuth2Tokens {
  accessToken: string;
  /** Epoch milliseconds; undefined when the provider did not say. */
  expiresAt?: number | undefined;
  /** A provider that rotates refresh tokens returns a new one. */
  refreshToken?: string | undefined;
}

const MAX_RESPONSE = 64 * 1024;

/** Exchanges a refresh token for a new access token. Throws MailConnectError('auth' | network codes). */
export async function refreshAccessToken(
  client: OAuth2Client,
  refreshToken: string,
  options: { allowPrivate: boolean; timeoutMs?: number },
): Promise<OAuth2Tokens> {
  let url: URL;
  try {
    url = new URL(client.tokenUrl);
  } catch {
    throw new MailConnectError('protocol', 'The OAuth2 token URL is not a valid URL.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new MailConnectError('protocol', 'The OAuth2 token URL must be http(s).');
  const checked = await assertPublicMailHost(url.hostname, { allowPrivate: options.allowPrivate });
  const body = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: client.clientId,
    ...(client.clientSecret ? { client_secret: client.clientSecret } : {}),
  }).toString();
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const { status, text } = await new Promise<{ status: number; text: string }>(
    (resolve, reject) => {
      const request = (url.protocol === 'https:' ? https : http).request(
        {
          host: checked.address,
          port,
          path: `${url.pathname}${url.search}`,
          method: 'POST',
          servername: checked.servername,
          headers: {
            host: url.host,
            'content-type': 'application/x-www-form-urlencoded',
            accept: 'application/json',
            'content-length': Buffer.byteLength(body),
          },
          timeout: options.timeoutMs ?? 15_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE) res.destroy(new Error('token response too large'));
            else chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
        },
      );
      request.on('timeout', () =>
        request.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })),
      );
      request.on('error', reject);
      request.end(body);
    },
  ).catch((err: unknown) => {
    const e = err as NodeJS.ErrnoException;
    throw new MailConnectError(
      e.code === 'ETIMEDOUT' ? 'timeout' : e.code === 'ECONNREFUSED' ? 'refused' : 'protocol',
      `The OAuth2 token endpoint ${url.host} could not be reached: ${serverText(e.message)}.`,
      { cause: err },
    );
  });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // described below
  }
  if (status < 200 || status >= 300 || typeof json.access_token !== 'string') {
    const reason =
      typeof json.error === 'string'
        ? `${json.error}${typeof json.error_description === 'string' ? `: ${json.error_description}` : ''}`
        : `HTTP ${status}`;
    throw new MailConnectError(
      'auth',
      `The OAuth2 token endpoint refused the refresh token (${serverText(reason)}). Sign in again to get a new one.`,
    );
  }
  const expiresIn = Number(json.expires_in);
  return {
    accessToken: json.access_token,
    expiresAt:
      Number.isFinite(expiresIn) && expiresIn > 0 ? Date.now() + expiresIn * 1000 : undefined,
    refreshToken: typeof json.refresh_token === 'string' ? json.refresh_token : undefined,
  };
}
