/**
 * A tiny OAuth2 provider for tests of XOAUTH2 mail logins: a token endpoint (refresh grant,
 * rotating refresh tokens) and the introspection endpoint Dovecot's oauth2 passdb asks
 * whether an access token is valid (start Dovecot with `oauth2: {introspectionUrl}`).
 */
import http from 'node:http';

export type OAuth2Provider = {
  url: string;
  /** `${url}/token`: the refresh-token grant. */
  tokenUrl: string;
  /** `${url}/introspect`: for Dovecot's oauth2 passdb. */
  introspectionUrl: string;
  refreshes: Array<{ refreshToken: string; clientId: string; clientSecret?: string }>;
  /** Access tokens Dovecot accepts now, with the user each belongs to. */
  active: Map<string, string>;
  /** Refresh tokens the endpoint accepts now, with their user (rotated ones keep it). */
  grants: Map<string, string>;
  /** Lets the endpoint accept `refreshToken` for `user` (default: the provider's user). */
  grant(refreshToken: string, user?: string): void;
  close(): Promise<void>;
};

/** Starts the provider on a free loopback port; `refresh-1` is granted to `defaultUser`. */
export async function startOAuth2Provider(defaultUser: string): Promise<OAuth2Provider> {
  let seq = 0;
  const refreshes: OAuth2Provider['refreshes'] = [];
  const active = new Map<string, string>();
  const grants = new Map([['refresh-1', defaultUser]]);
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/token') {
        const form = new URLSearchParams(body);
        const refreshToken = form.get('refresh_token') ?? '';
        refreshes.push({
          refreshToken,
          clientId: form.get('client_id') ?? '',
          ...(form.get('client_secret') ? { clientSecret: form.get('client_secret')! } : {}),
        });
        if (form.get('grant_type') !== 'refresh_token' || !grants.has(refreshToken)) {
          res.statusCode = 400;
          res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'Token revoked' }));
          return;
        }
        const user = grants.get(refreshToken)!;
        seq++;
        const accessToken = `access-${seq}`;
        active.set(accessToken, user);
        grants.delete(refreshToken);
        grants.set(`refresh-${seq + 1}`, user);
        res.end(
          JSON.stringify({
            access_token: accessToken,
            expires_in: 3600,
            refresh_token: `refresh-${seq + 1}`,
            token_type: 'Bearer',
          }),
        );
        return;
      }
      // introspection (Dovecot: GET with the token as Bearer)
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const user = active.get(token);
      res.end(JSON.stringify({ username: user ?? defaultUser, active: user ? 'yes' : 'no' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    tokenUrl: `${url}/token`,
    introspectionUrl: `${url}/introspect`,
    refreshes,
    active,
    grants,
    grant: (refreshToken, user = defaultUser) => void grants.set(refreshToken, user),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
