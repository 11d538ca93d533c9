import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Encrypts secrets at rest (AES-256-GCM) with a key derived from SECRET_KEY. */
export class SecretBox {
  private readonly key: Buffer;
  constructor(secretKey: string) {
    this.key = createHash('sha256').update(`notifypro:encryption:${secretKey}`).digest();
  }

  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [
      'v1',
      iv.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
      body.toString('base64url'),
    ].join('.');
  }

  decrypt(sealed: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || body === undefined)
      throw new Error('Unknown secret format');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([
      decipher.update(Buffer.from(body, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
  }

  /** An HMAC under a purpose-specific key (CSRF tokens and the like). */
  sign(purpose: string, value: string): string {
    return createHmac('sha256', this.key).update(`${purpose}:${value}`).digest('base64url');
  }
}

/** A random credential with a readable prefix, e.g. `nps_…` for sessions, `npk_…` for API keys. */
export function generateToken(prefix: string, bytes = 32): string {
  return `${prefix}_${randomBytes(bytes).toString('base64url')}`;
}

/** Credentials have 256 bits of entropy, so a plain SHA-256 is the right stored form. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The last characters of a secret, for display: `…AbC1`. */
export function secretHint(secret: string): string {
  return `…${secret.slice(-4)}`;
}

/**
 * SECRET_KEY from config, else the one generated once into DATA_DIR. `generate: false` (the
 * split roles api, worker, bots) refuses to make one up: each would get its own key, and none
 * could read what another encrypted or signed.
 */
export function resolveSecretKey(
  configured: string | undefined,
  dataDir: string,
  { generate = true }: { generate?: boolean } = {},
): string {
  if (configured) return configured;
  const file = join(dataDir, 'secret.key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  if (!generate)
    throw new Error(
      `Invalid configuration:\n  SECRET_KEY: required (and ${file} does not exist): give api, worker and bots the same SECRET_KEY (openssl rand -hex 32)`,
    );
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(48).toString('base64url');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}
