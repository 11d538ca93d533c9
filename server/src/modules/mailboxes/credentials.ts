/**
 * A mailbox's login secret, stored encrypted in `secret_encrypted`: the password, or for
 * `auth_type = 'oauth2'` a JSON document with the OAuth2 client, the refresh token and the
 * current access token. Access tokens are refreshed when (nearly) expired or when the
 * server refused the last one, and the new tokens are stored back, encrypted.
 */
import { and, eq } from 'drizzle-orm';
import type { SecretBox } from '../../crypto/secrets.js';
import type { Database } from '../../db/client.js';
import { mailboxes } from '../../db/schema.js';
import { MailConnectError } from '../../mail/errors.js';
import { refreshAccessToken } from '../../mail/oauth2.js';

type Mailbox = typeof mailboxes.$inferSelect;

export type OAuth2Secret = {
  tokenUrl: string;
  clientId: string;
  clientSecret?: string | undefined;
  refreshToken: string;
  accessToken?: string | undefined;
  /** Epoch milliseconds. */
  expiresAt?: number | undefined;
};

export type TokenRefreshDeps = { db: Database; secrets: SecretBox; allowPrivateHosts: boolean };

/** Refresh this long before the provider's expiry, so a login never races it. */
const EXPIRY_MARGIN_MS = 60_000;

export function sealOAuth2Secret(secrets: SecretBox, secret: OAuth2Secret): string {
  return secrets.encrypt(JSON.stringify(secret));
}

export function openOAuth2Secret(secrets: SecretBox, sealed: string): OAuth2Secret {
  const value = JSON.parse(secrets.decrypt(sealed)) as OAuth2Secret;
  if (typeof value?.refreshToken !== 'string' || typeof value.tokenUrl !== 'string')
    throw new MailConnectError('auth', 'The stored OAuth2 credentials are incomplete.');
  return value;
}

/**
 * `{password}` or `{accessToken}` for a login. `forceRefresh`: the server refused the
 * current access token, get a new one. Updates `mb.secretEncrypted` when tokens change.
 */
export async function mailCredentials(
  deps: TokenRefreshDeps,
  mb: Pick<Mailbox, 'id' | 'orgId' | 'authType' | 'secretEncrypted'>,
  options: { forceRefresh?: boolean | undefined } = {},
): Promise<{ password: string } | { accessToken: string }> {
  if (mb.authType !== 'oauth2') return { password: deps.secrets.decrypt(mb.secretEncrypted) };
  const secret = openOAuth2Secret(deps.secrets, mb.secretEncrypted);
  const fresh =
    secret.accessToken &&
    !options.forceRefresh &&
    (secret.expiresAt === undefined || secret.expiresAt - EXPIRY_MARGIN_MS > Date.now());
  if (fresh) return { accessToken: secret.accessToken! };
  const tokens = await refreshAccessToken(secret, secret.refreshToken, {
    allowPrivate: deps.allowPrivateHosts,
  });
  const next: OAuth2Secret = {
    ...secret,
    accessToken: tokens.accessToken,
    expiresAt: tokens.expiresAt,
    refreshToken: tokens.refreshToken ?? secret.refreshToken,
  };
  const sealed = sealOAuth2Secret(deps.secrets, next);
  await deps.db
    .update(mailboxes)
    .set({ secretEncrypted: sealed })
    .where(and(eq(mailboxes.orgId, mb.orgId), eq(mailboxes.id, mb.id)));
  mb.secretEncrypted = sealed;
  return { accessToken: tokens.accessToken };
}
