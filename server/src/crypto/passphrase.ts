import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { z } from 'zod';

/**
 * Data sealed with a passphrase (export documents): scrypt derives a 256-bit key, AES-256-GCM
 * encrypts and authenticates. Nothing about the plaintext is readable without the passphrase;
 * a wrong passphrase and a tampered box fail alike (the GCM tag does not verify).
 */
export const passphraseBox = z
  .object({
    kdf: z
      .object({
        name: z.literal('scrypt'),
        // Bounded: a hostile document must not make the server allocate gigabytes.
        N: z
          .number()
          .int()
          .min(2 ** 14)
          .max(2 ** 17)
          .refine((n) => (n & (n - 1)) === 0, 'a power of two'),
        r: z.number().int().min(1).max(16),
        p: z.number().int().min(1).max(4),
        salt: z.base64url().min(16).max(128),
      })
      .strict(),
    cipher: z.literal('aes-256-gcm'),
    iv: z.base64url().length(16),
    tag: z.base64url().length(22),
    data: z.base64url().max(32 * 1024 * 1024),
  })
  .strict();
export type PassphraseBox = z.infer<typeof passphraseBox>;

/** Thrown when the passphrase does not open the box (wrong, or the box was altered). */
export class WrongPassphraseError extends Error {
  constructor() {
    super(
      'The passphrase does not open the secrets (wrong passphrase, or the document was altered)',
    );
    this.name = 'WrongPassphraseError';
  }
}

const defaultCost = { N: 2 ** 15, r: 8, p: 1 };

function deriveKey(passphrase: string, salt: Buffer, cost: { N: number; r: number; p: number }) {
  return new Promise<Buffer>((resolve, reject) =>
    scrypt(
      passphrase.normalize('NFC'),
      salt,
      32,
      { ...cost, maxmem: 256 * cost.N * cost.r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    ),
  );
}

/** Encrypts `plain` under a key derived from `passphrase`; `aad` binds it to its context. */
export async function sealWithPassphrase(
  passphrase: string,
  plain: string,
  aad: string,
): Promise<PassphraseBox> {
  const salt = randomBytes(16);
  const key = await deriveKey(passphrase, salt, defaultCost);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return {
    kdf: { name: 'scrypt', ...defaultCost, salt: salt.toString('base64url') },
    cipher: 'aes-256-gcm',
    iv: iv.toString('base64url'),
    tag: cipher.getAuthTag().toString('base64url'),
    data: data.toString('base64url'),
  };
}

/** Opens a box made by sealWithPassphrase; throws WrongPassphraseError when it does not open. */
export async function openWithPassphrase(
  passphrase: string,
  box: PassphraseBox,
  aad: string,
): Promise<string> {
  const key = await deriveKey(passphrase, Buffer.from(box.kdf.salt, 'base64url'), box.kdf);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(box.iv, 'base64url'), {
      authTagLength: 16,
    });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(box.tag, 'base64url'));
    return Buffer.concat([
      decipher.update(Buffer.from(box.data, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new WrongPassphraseError();
  }
}
