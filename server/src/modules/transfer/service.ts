/**
 * Export and import of an organization's configuration (see format.ts). Import merges into
 * the target org by natural keys — bot telegramId, chat telegramChatId, mailbox
 * host+username+folder, webhook token (then name), rule name, member e-mail — in one
 * transaction, and writes only what differs, so importing the same document again changes
 * nothing. Nothing is deleted: rows the document does not mention stay as they are.
 */
import { randomBytes } from 'node:crypto';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Config } from '../../config.js';
import {
  openWithPassphrase,
  sealWithPassphrase,
  WrongPassphraseError,
} from '../../crypto/passphrase.js';
import { generateToken, secretHint, type SecretBox } from '../../crypto/secrets.js';
import type { Database } from '../../db/client.js';
import {
  botChats,
  bots,
  chats,
  mailboxes,
  memberships,
  organizations,
  rules,
  users,
  webhooks,
} from '../../db/schema.js';
import { AppError, badRequest, notFound, type FieldError } from '../../errors.js';
import type { Actor } from '../../http/access.js';
import type { Logger } from '../../logger.js';
import { assertPublicMailHost } from '../../mail/host-guard.js';
import { auditRepository } from '../audit/repository.js';
import { hashPassword } from '../auth/service.js';
import { createBotService } from '../bots/service.js';
import { openOAuth2Secret, sealOAuth2Secret, type OAuth2Secret } from '../mailboxes/credentials.js';
import {
  exportDocument,
  exportFormat,
  exportVersion,
  sealedSecrets,
  secretsAad,
  type ExportDocument,
  type SealedSecrets,
} from './format.js';

export type TransferDeps = { db: Database; secrets: SecretBox; config: Config; log: Logger };

/** A passphrase shorter than this protects nothing worth protecting. */
export const minPassphraseLength = 8;

type Counts = { created: number; updated: number; unchanged: number };
const kinds = ['members', 'bots', 'chats', 'mailboxes', 'webhooks', 'rules'] as const;
export type ImportSummary = Record<(typeof kinds)[number], Counts> & {
  organization: 'created' | 'updated' | 'unchanged';
};
export type ImportResult = {
  orgId: string;
  summary: ImportSummary;
  /** What was imported differently from the document, and why (one line each). */
  warnings: string[];
  /** New accounts made for members without one here: the password to hand over, shown once. */
  temporaryPasswords: Array<{ email: string; password: string }>;
};

const noTokenNote = 'Imported without its token: set the token to start the bot';
const noPasswordNote = 'Imported without its password: set it, then enable the mailbox';

function checkPassphrase(passphrase: string, path = 'passphrase') {
  if (passphrase.length < minPassphraseLength)
    throw badRequest('The passphrase is too short', [
      { path, message: `at least ${minPassphraseLength} characters` },
    ]);
}

/** A stored secret; the empty string marks one an import did not have. */
function openSecret(box: SecretBox, sealed: string | null): string | null {
  if (!sealed) return null;
  const plain = box.decrypt(sealed);
  return plain === '' ? null : plain;
}

/** A mailbox's stored login secret, or null when it was imported without one. */
function openMailboxSecret(
  box: SecretBox,
  row: { authType: 'password' | 'oauth2'; secretEncrypted: string },
): { password: string } | { oauth2: OAuth2Secret } | null {
  if (openSecret(box, row.secretEncrypted) === null) return null;
  return row.authType === 'oauth2'
    ? { oauth2: openOAuth2Secret(box, row.secretEncrypted) }
    : { password: box.decrypt(row.secretEncrypted) };
}

/** JSON with sorted keys: jsonb does not keep key order, so compare through this. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
        )
      : v,
  );
}

/** The fields of `desired` whose values differ from `current`'s (undefined: leave as is). */
function differences<T extends Record<string, unknown>>(
  current: T,
  desired: Partial<T>,
): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(desired) as Array<[keyof T, T[keyof T]]>) {
    if (v === undefined) continue;
    if (canonical(current[k] ?? null) !== canonical(v ?? null)) out[k] = v;
  }
  return out;
}

/**
 * Pairs document items with existing rows that share a natural key. Keys need not be unique
 * (two rules may share a name): among the candidates, one already identical is preferred,
 * so a second import pairs every item with the row the first import made.
 */
function pairing<R>(rows: R[], keyOf: (r: R) => string) {
  const buckets = new Map<string, R[]>();
  for (const r of rows) {
    const k = keyOf(r);
    buckets.set(k, [...(buckets.get(k) ?? []), r]);
  }
  return (key: string, isSame: (r: R) => boolean): R | null => {
    const bucket = buckets.get(key);
    if (!bucket?.length) return null;
    const i = Math.max(0, bucket.findIndex(isSame));
    return bucket.splice(i, 1)[0]!;
  };
}

// ---------------------------------------------------------------------------------- export

/**
 * The org's configuration as an export document. With a passphrase, its secrets are sealed
 * into `secrets` (scrypt + AES-256-GCM); without one they are left out entirely.
 */
export async function exportOrganization(
  deps: Pick<TransferDeps, 'db' | 'secrets'>,
  orgId: string,
  options: { passphrase?: string | undefined } = {},
): Promise<ExportDocument> {
  const { db, secrets } = deps;
  if (options.passphrase !== undefined) checkPassphrase(options.passphrase);
  const [org] = await db.select().from(organizations).where(eq(organizations.id, orgId));
  if (!org) throw notFound('Organization');
  const [memberRows, botRows, chatRows, linkRows, mailboxRows, webhookRows, ruleRows] =
    await Promise.all([
      db
        .select({ email: users.email, name: users.name, role: memberships.role })
        .from(memberships)
        .innerJoin(users, eq(users.id, memberships.userId))
        .where(eq(memberships.orgId, orgId))
        .orderBy(asc(memberships.createdAt), asc(users.email)),
      db
        .select()
        .from(bots)
        .where(eq(bots.orgId, orgId))
        .orderBy(asc(bots.createdAt), asc(bots.id)),
      db
        .select()
        .from(chats)
        .where(eq(chats.orgId, orgId))
        .orderBy(asc(chats.createdAt), asc(chats.id)),
      db
        .select()
        .from(botChats)
        .where(eq(botChats.orgId, orgId))
        .orderBy(asc(botChats.createdAt), asc(botChats.botId)),
      db
        .select()
        .from(mailboxes)
        .where(eq(mailboxes.orgId, orgId))
        .orderBy(asc(mailboxes.createdAt), asc(mailboxes.id)),
      db
        .select()
        .from(webhooks)
        .where(eq(webhooks.orgId, orgId))
        .orderBy(asc(webhooks.createdAt), asc(webhooks.id)),
      db
        .select()
        .from(rules)
        .where(eq(rules.orgId, orgId))
        .orderBy(asc(rules.priority), asc(rules.createdAt), asc(rules.id)),
    ]);

  const sealed: SealedSecrets = { bots: {}, mailboxes: {}, webhooks: {} };
  if (options.passphrase !== undefined) {
    for (const b of botRows) {
      const token = openSecret(secrets, b.tokenEncrypted);
      if (token) sealed.bots[b.id] = token;
    }
    for (const m of mailboxRows) {
      if (m.authType === 'oauth2') {
        const {
          accessToken: _a,
          expiresAt: _e,
          ...grant
        } = openOAuth2Secret(secrets, m.secretEncrypted);
        sealed.mailboxes[m.id] = { oauth2: grant };
      } else {
        const password = openSecret(secrets, m.secretEncrypted);
        if (password) sealed.mailboxes[m.id] = { password };
      }
    }
    for (const w of webhookRows) {
      const hmac = openSecret(secrets, w.hmacSecretEncrypted);
      if (hmac) sealed.webhooks[w.id] = hmac;
    }
  }

  return {
    format: exportFormat,
    version: exportVersion,
    exportedAt: new Date().toISOString(),
    organization: {
      name: org.name,
      settings: org.settings as ExportDocument['organization']['settings'],
    },
    members: memberRows.map((m) => ({ email: m.email, name: m.name, role: m.role })),
    bots: botRows.map((b) => ({
      id: b.id,
      name: b.name,
      telegramId: b.telegramId,
      username: b.username,
      mode: b.mode,
      enabled: b.enabled,
    })),
    chats: chatRows.map((c) => ({
      id: c.id,
      telegramChatId: c.telegramChatId,
      type: c.type,
      title: c.title,
      username: c.username,
      status: c.status,
      language: c.language,
      bots: linkRows
        .filter((l) => l.chatId === c.id)
        .map((l) => ({ botId: l.botId, status: l.status, reason: l.reason })),
    })),
    mailboxes: mailboxRows.map((m) => ({
      id: m.id,
      name: m.name,
      protocol: m.protocol,
      host: m.host,
      port: m.port,
      security: m.security,
      username: m.username,
      authType: m.authType,
      folder: m.folder,
      mode: m.mode,
      pollIntervalSeconds: m.pollIntervalSeconds,
      markSeen: m.markSeen,
      enabled: m.enabled,
    })),
    webhooks: webhookRows.map((w) => ({
      id: w.id,
      name: w.name,
      token: w.token,
      enabled: w.enabled,
      hasHmacSecret: !!w.hmacSecretEncrypted,
    })),
    rules: ruleRows.map((r) => ({
      id: r.id,
      name: r.name,
      enabled: r.enabled,
      priority: r.priority,
      sources: r.sources,
      match: r.match,
      conditions: r.conditions as ExportDocument['rules'][number]['conditions'],
      targets: r.targets,
      template: r.template,
      includeAttachments: r.includeAttachments,
      stopProcessing: r.stopProcessing,
    })),
    secrets:
      options.passphrase === undefined
        ? null
        : await sealWithPassphrase(options.passphrase, JSON.stringify(sealed), secretsAad),
  };
}

// ---------------------------------------------------------------------------------- import

/** Where an import goes: an existing org, or a new one (its creator, if any, becomes owner). */
export type ImportTarget = { orgId: string } | { newOrg: { ownerUserId?: string | undefined } };

export type ImportOptions = {
  passphrase?: string | undefined;
  actor: Actor;
  /** Prefix of field paths in errors (the API nests the document under `body.document`). */
  pathPrefix?: string;
  /** The passphrase's field path in errors. */
  passphrasePath?: string;
};

function invalid(errors: FieldError[]): AppError {
  return badRequest('The export document is invalid', errors.slice(0, 50));
}

/** Parses and checks a document (structure, limits, references); 400 naming each bad field. */
export function parseExportDocument(input: unknown, pathPrefix = ''): ExportDocument {
  const parsed = exportDocument.safeParse(input);
  if (parsed.success) return parsed.data;
  throw invalid(
    parsed.error.issues.map((i) => ({
      path: pathPrefix + (i.path.length ? i.path.join('.') : '(document)'),
      message: i.message,
    })),
  );
}

async function openDocumentSecrets(
  doc: ExportDocument,
  passphrase: string | undefined,
  warnings: string[],
  pathPrefix: string,
  passphrasePath: string,
): Promise<SealedSecrets | null> {
  if (!doc.secrets) {
    if (passphrase !== undefined)
      warnings.push('The document carries no secrets: the passphrase was not needed');
    return null;
  }
  if (passphrase === undefined) {
    warnings.push(
      'The document carries encrypted secrets but no passphrase was given: they were not imported',
    );
    return null;
  }
  let plain: string;
  try {
    plain = await openWithPassphrase(passphrase, doc.secrets, secretsAad);
  } catch (err) {
    if (err instanceof WrongPassphraseError)
      throw badRequest('Wrong passphrase', [{ path: passphrasePath, message: err.message }]);
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(plain);
  } catch {
    json = null;
  }
  const parsed = sealedSecrets.safeParse(json);
  if (!parsed.success)
    throw invalid(
      parsed.error.issues.map((i) => ({
        path: `${pathPrefix}secrets.${i.path.join('.')}`,
        message: i.message,
      })),
    );
  const s = parsed.data;
  const errors: FieldError[] = [];
  const ids = {
    bots: new Map(doc.bots.map((b) => [b.id, b])),
    mailboxes: new Map(doc.mailboxes.map((m) => [m.id, m])),
    webhooks: new Map(doc.webhooks.map((w) => [w.id, w])),
  };
  // Secrets of items taken out of the document (a partial import) are simply not used.
  for (const kind of ['bots', 'mailboxes', 'webhooks'] as const)
    for (const id of Object.keys(s[kind])) if (!ids[kind].has(id)) delete s[kind][id];
  for (const [id, secret] of Object.entries(s.mailboxes)) {
    const m = ids.mailboxes.get(id);
    if (m && 'oauth2' in secret !== (m.authType === 'oauth2'))
      errors.push({
        path: `${pathPrefix}secrets.mailboxes.${id}`,
        message: `the mailbox's authType is ${m.authType}`,
      });
  }
  if (errors.length) throw invalid(errors);
  return s;
}

/** Imports a document into an org; one transaction: on any error nothing is written. */
export async function importOrganization(
  deps: TransferDeps,
  target: ImportTarget,
  input: unknown,
  options: ImportOptions,
): Promise<ImportResult> {
  const { db, secrets, config } = deps;
  const prefix = options.pathPrefix ?? '';
  const doc = parseExportDocument(input, prefix);
  const passphrasePath = options.passphrasePath ?? 'passphrase';
  if (options.passphrase !== undefined) checkPassphrase(options.passphrase, passphrasePath);
  const warnings: string[] = [];
  const sealed = await openDocumentSecrets(
    doc,
    options.passphrase,
    warnings,
    prefix,
    passphrasePath,
  );

  // The SSRF guard, before the transaction (it resolves names).
  const hostErrors: FieldError[] = [];
  await Promise.all(
    doc.mailboxes.map(async (m, i) => {
      try {
        await assertPublicMailHost(m.host, { allowPrivate: config.mailAllowPrivateHosts });
      } catch (e) {
        hostErrors.push({ path: `${prefix}mailboxes.${i}.host`, message: (e as Error).message });
      }
    }),
  );
  if (hostErrors.length) throw badRequest('Host refused', hostErrors);

  // New accounts' passwords are hashed up front (argon2 takes a while; not inside the transaction).
  const known = doc.members.length
    ? await db
        .select({ email: sql<string>`lower(${users.email})` })
        .from(users)
        .where(
          inArray(
            sql`lower(${users.email})`,
            doc.members.map((m) => m.email.toLowerCase()),
          ),
        )
    : [];
  const knownEmails = new Set(known.map((k) => k.email));
  const newAccounts = new Map<string, { password: string; hash: string }>();
  for (const m of doc.members) {
    const email = m.email.toLowerCase();
    if (knownEmails.has(email) || newAccounts.has(email)) continue;
    const password = randomBytes(12).toString('base64url');
    newAccounts.set(email, { password, hash: await hashPassword(password) });
  }

  const summary: ImportSummary = {
    organization: 'unchanged',
    ...(Object.fromEntries(
      kinds.map((k) => [k, { created: 0, updated: 0, unchanged: 0 }]),
    ) as Record<(typeof kinds)[number], Counts>),
  };
  const count = (kind: (typeof kinds)[number], what: keyof Counts) => summary[kind][what]++;
  const temporaryPasswords: ImportResult['temporaryPasswords'] = [];
  /** Webhook-mode bots to register with Telegram once committed (it needs the bot row). */
  const toRegister: Array<{ id: string; name: string }> = [];

  const orgId = await db.transaction(async (tx) => {
    // ---- organization (locked: two imports into one org run one after the other)
    let orgId: string;
    if ('orgId' in target) {
      const [org] = await tx
        .select()
        .from(organizations)
        .where(eq(organizations.id, target.orgId))
        .for('update');
      if (!org) throw notFound('Organization');
      orgId = org.id;
    } else {
      const [org] = await tx
        .insert(organizations)
        .values({ name: doc.organization.name })
        .returning();
      orgId = org!.id;
      summary.organization = 'created';
      if (target.newOrg.ownerUserId)
        await tx
          .insert(memberships)
          .values({ orgId, userId: target.newOrg.ownerUserId, role: 'owner' });
    }

    // ---- members
    const ownerIds = new Set<string>();
    for (const m of doc.members) {
      const email = m.email.toLowerCase();
      let [user] = await tx
        .select()
        .from(users)
        .where(sql`lower(${users.email}) = ${email}`);
      if (!user) {
        const account = newAccounts.get(email) ?? {
          password: randomBytes(12).toString('base64url'),
          hash: '',
        };
        if (!account.hash) account.hash = await hashPassword(account.password);
        [user] = await tx
          .insert(users)
          .values({ email: m.email, name: m.name || m.email, passwordHash: account.hash })
          .returning();
        temporaryPasswords.push({ email: m.email, password: account.password });
      }
      const [membership] = await tx
        .select()
        .from(memberships)
        .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, user!.id)));
      if (!membership) {
        await tx.insert(memberships).values({ orgId, userId: user!.id, role: m.role });
        count('members', 'created');
      } else if (membership.role !== m.role) {
        if (options.actor.type === 'user' && options.actor.id === user!.id) {
          warnings.push(`${m.email}: your own role was left as ${membership.role}`);
          count('members', 'unchanged');
          continue;
        }
        await tx
          .update(memberships)
          .set({ role: m.role })
          .where(and(eq(memberships.orgId, orgId), eq(memberships.userId, user!.id)));
        count('members', 'updated');
      } else count('members', 'unchanged');
      if (m.role === 'owner') ownerIds.add(user!.id);
    }
    const [owners] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(memberships)
      .where(and(eq(memberships.orgId, orgId), eq(memberships.role, 'owner')));
    if ('orgId' in target && !owners?.n)
      throw new AppError('conflict', 'The import would leave the organization without an owner');
    if (!owners?.n)
      warnings.push(
        'The new organization has no owner: add one (`notifypro create-admin`, then the superadmin adds members)',
      );

    // ---- bots (telegramId is unique across the installation)
    const botIdMap = new Map<string, string>();
    const existingBots = doc.bots.length
      ? await tx
          .select()
          .from(bots)
          .where(
            inArray(
              bots.telegramId,
              doc.bots.map((b) => b.telegramId),
            ),
          )
      : [];
    for (const [i, b] of doc.bots.entries()) {
      const token = sealed?.bots[b.id] ?? null;
      const row = existingBots.find((e) => e.telegramId === b.telegramId);
      if (row && row.orgId !== orgId)
        throw new AppError(
          'conflict',
          `Bot @${b.username ?? b.telegramId} is registered in another organization of this installation`,
          {
            errors: [
              { path: `${prefix}bots.${i}.telegramId`, message: 'already registered elsewhere' },
            ],
          },
        );
      if (!row) {
        const enabled = b.enabled && token !== null;
        const [created] = await tx
          .insert(bots)
          .values({
            orgId,
            name: b.name,
            username: b.username,
            telegramId: b.telegramId,
            tokenEncrypted: secrets.encrypt(token ?? ''),
            tokenHint: token ? secretHint(token) : '',
            // A webhook is registered with Telegram after commit, which switches the mode.
            mode: 'polling',
            enabled,
            status: enabled ? 'starting' : 'stopped',
            lastError: token ? null : noTokenNote,
          })
          .returning();
        botIdMap.set(b.id, created!.id);
        if (b.mode === 'webhook' && token) toRegister.push({ id: created!.id, name: b.name });
        if (!token) warnings.push(`bot ${b.name}: ${noTokenNote.toLowerCase()}`);
        count('bots', 'created');
        continue;
      }
      botIdMap.set(b.id, row.id);
      const stored = openSecret(secrets, row.tokenEncrypted);
      const tokenChanged = token !== null && token !== stored;
      const hasToken = tokenChanged || stored !== null;
      const changes = differences(row, {
        name: b.name,
        username: b.username ?? row.username,
        enabled: b.enabled && hasToken,
        ...(tokenChanged
          ? {
              tokenEncrypted: secrets.encrypt(token),
              tokenHint: secretHint(token),
              lastError: null,
            }
          : {}),
      });
      if (changes.enabled !== undefined) changes.status = changes.enabled ? 'starting' : 'stopped';
      if (b.mode === 'webhook' && row.mode !== 'webhook' && hasToken)
        toRegister.push({ id: row.id, name: b.name });
      if (Object.keys(changes).length) {
        await tx
          .update(bots)
          .set({
            ...changes,
            ...(tokenChanged ? { revision: sql`${bots.revision} + 1` } : {}),
            updatedAt: new Date(),
          })
          .where(and(eq(bots.orgId, orgId), eq(bots.id, row.id)));
        count('bots', 'updated');
      } else count('bots', 'unchanged');
    }

    // ---- chats and their bot links
    const chatIdMap = new Map<string, string>();
    const existingChats = await tx.select().from(chats).where(eq(chats.orgId, orgId));
    const existingLinks = await tx.select().from(botChats).where(eq(botChats.orgId, orgId));
    for (const c of doc.chats) {
      const fields = {
        type: c.type,
        title: c.title,
        username: c.username,
        status: c.status,
        language: c.language,
      };
      const row = existingChats.find((e) => e.telegramChatId === c.telegramChatId);
      let chatId: string;
      let changed = false;
      if (!row) {
        const [created] = await tx
          .insert(chats)
          .values({ orgId, telegramChatId: c.telegramChatId, ...fields })
          .returning();
        chatId = created!.id;
        count('chats', 'created');
      } else {
        chatId = row.id;
        const changes = differences(row, fields);
        if (Object.keys(changes).length) {
          await tx
            .update(chats)
            .set({ ...changes, updatedAt: new Date() })
            .where(and(eq(chats.orgId, orgId), eq(chats.id, row.id)));
          changed = true;
        }
      }
      chatIdMap.set(c.id, chatId);
      for (const l of c.bots) {
        const botId = botIdMap.get(l.botId)!;
        const link = existingLinks.find((e) => e.chatId === chatId && e.botId === botId);
        if (!link) {
          await tx
            .insert(botChats)
            .values({ orgId, botId, chatId, status: l.status, reason: l.reason });
          changed = true;
        } else if (link.status !== l.status || link.reason !== l.reason) {
          await tx
            .update(botChats)
            .set({ status: l.status, reason: l.reason, updatedAt: new Date() })
            .where(and(eq(botChats.botId, botId), eq(botChats.chatId, chatId)));
          changed = true;
        }
      }
      if (row) count('chats', changed ? 'updated' : 'unchanged');
    }

    // ---- mailboxes (by host + username + folder)
    const mailboxIdMap = new Map<string, string>();
    const mailboxKey = (m: { host: string; username: string; folder: string }) =>
      canonical([m.host.toLowerCase(), m.username.toLowerCase(), m.folder]);
    const takeMailbox = pairing(
      await tx
        .select()
        .from(mailboxes)
        .where(eq(mailboxes.orgId, orgId))
        .orderBy(asc(mailboxes.createdAt), asc(mailboxes.id)),
      mailboxKey,
    );
    for (const m of doc.mailboxes) {
      const secret = sealed?.mailboxes[m.id];
      const settings = {
        name: m.name,
        protocol: m.protocol,
        port: m.port,
        security: m.security,
        mode: m.mode,
        pollIntervalSeconds: m.pollIntervalSeconds,
        markSeen: m.markSeen,
      };
      const sealSecret = () =>
        secret && 'oauth2' in secret
          ? sealOAuth2Secret(secrets, secret.oauth2 as OAuth2Secret)
          : secrets.encrypt(secret?.password ?? '');
      const row = takeMailbox(mailboxKey(m), (r) => !Object.keys(differences(r, settings)).length);
      if (!row) {
        const enabled = m.enabled && !!secret;
        const [created] = await tx
          .insert(mailboxes)
          .values({
            orgId,
            ...settings,
            host: m.host,
            username: m.username,
            folder: m.folder,
            authType: m.authType,
            secretEncrypted: sealSecret(),
            enabled,
            lastError: secret ? null : noPasswordNote,
          })
          .returning();
        mailboxIdMap.set(m.id, created!.id);
        if (!secret) warnings.push(`mailbox ${m.name}: ${noPasswordNote.toLowerCase()}`);
        count('mailboxes', 'created');
        continue;
      }
      mailboxIdMap.set(m.id, row.id);
      const current = openMailboxSecret(secrets, row);
      const grant = (g: Partial<OAuth2Secret> | null) =>
        canonical(g && [g.tokenUrl, g.clientId, g.clientSecret ?? null, g.refreshToken]);
      const secretChanged =
        !!secret &&
        ('oauth2' in secret
          ? !current || !('oauth2' in current) || grant(current.oauth2) !== grant(secret.oauth2)
          : !current || !('password' in current) || current.password !== secret.password);
      const hasSecret = secretChanged || current !== null;
      const changes: Partial<typeof mailboxes.$inferInsert> = differences(row, {
        ...settings,
        enabled: m.enabled && hasSecret,
        ...(secretChanged ? { authType: m.authType } : {}),
      });
      if (secretChanged) Object.assign(changes, { secretEncrypted: sealSecret(), lastError: null });
      if (Object.keys(changes).length) {
        const reconnect =
          secretChanged || ['port', 'security', 'protocol'].some((k) => k in changes);
        await tx
          .update(mailboxes)
          .set({
            ...changes,
            ...(reconnect ? { status: 'pending' } : {}),
            // the worker restarts a watcher whose updated_at changed
            updatedAt: new Date(),
          })
          .where(and(eq(mailboxes.orgId, orgId), eq(mailboxes.id, row.id)));
        count('mailboxes', 'updated');
      } else count('mailboxes', 'unchanged');
    }

    // ---- webhooks (by token, then by name)
    const webhookIdMap = new Map<string, string>();
    const orgWebhooks = await tx
      .select()
      .from(webhooks)
      .where(eq(webhooks.orgId, orgId))
      .orderBy(asc(webhooks.createdAt), asc(webhooks.id));
    const tokensElsewhere = new Set(
      (
        await tx
          .select({ token: webhooks.token })
          .from(webhooks)
          .where(
            and(
              inArray(
                webhooks.token,
                doc.webhooks.length ? doc.webhooks.map((w) => w.token) : [''],
              ),
              sql`${webhooks.orgId} <> ${orgId}`,
            ),
          )
      ).map((r) => r.token),
    );
    const byToken = new Map(orgWebhooks.map((w) => [w.token, w]));
    const docTokens = new Set(doc.webhooks.map((w) => w.token));
    const takeWebhook = pairing(
      orgWebhooks.filter((w) => !docTokens.has(w.token)),
      (w) => w.name,
    );
    for (const w of doc.webhooks) {
      const hmac = sealed?.webhooks[w.id] ?? null;
      const row = byToken.get(w.token) ?? takeWebhook(w.name, (r) => r.enabled === w.enabled);
      if (!row) {
        const clash = tokensElsewhere.has(w.token);
        // Without its HMAC secret the webhook would take unsigned calls: it waits disabled.
        const missingHmac = w.hasHmacSecret && !hmac;
        const [created] = await tx
          .insert(webhooks)
          .values({
            orgId,
            name: w.name,
            token: clash ? generateToken('nph', 24) : w.token,
            hmacSecretEncrypted: hmac ? secrets.encrypt(hmac) : null,
            enabled: w.enabled && !missingHmac,
          })
          .returning();
        webhookIdMap.set(w.id, created!.id);
        if (clash)
          warnings.push(
            `webhook ${w.name}: its token is in use by another organization here; it got a new URL`,
          );
        if (missingHmac)
          warnings.push(
            `webhook ${w.name}: imported disabled, its HMAC secret was not in the document (set it, then enable the webhook)`,
          );
        count('webhooks', 'created');
        continue;
      }
      webhookIdMap.set(w.id, row.id);
      if (row.token !== w.token)
        warnings.push(`webhook ${w.name}: matched by name; it keeps its own URL here`);
      const hmacChanged = hmac !== null && openSecret(secrets, row.hmacSecretEncrypted) !== hmac;
      const changes = differences(row, {
        name: w.name,
        enabled: w.enabled && (!w.hasHmacSecret || hmacChanged || !!row.hmacSecretEncrypted),
        ...(hmacChanged ? { hmacSecretEncrypted: secrets.encrypt(hmac) } : {}),
      });
      if (Object.keys(changes).length) {
        await tx
          .update(webhooks)
          .set({ ...changes, updatedAt: new Date() })
          .where(and(eq(webhooks.orgId, orgId), eq(webhooks.id, row.id)));
        count('webhooks', 'updated');
      } else count('webhooks', 'unchanged');
    }

    // ---- rules (by name), their references remapped to this installation's ids
    const takeRule = pairing(
      await tx
        .select()
        .from(rules)
        .where(eq(rules.orgId, orgId))
        .orderBy(asc(rules.priority), asc(rules.createdAt), asc(rules.id)),
      (r) => r.name,
    );
    for (const r of doc.rules) {
      const values = {
        name: r.name,
        enabled: r.enabled,
        priority: r.priority,
        sources: {
          ...(r.sources.mailboxIds
            ? { mailboxIds: r.sources.mailboxIds.map((id) => mailboxIdMap.get(id)!) }
            : {}),
          ...(r.sources.webhookIds
            ? { webhookIds: r.sources.webhookIds.map((id) => webhookIdMap.get(id)!) }
            : {}),
        },
        match: r.match,
        conditions: r.conditions.map((c) => ({
          field: c.field,
          op: c.op,
          ...(c.value !== undefined ? { value: c.value } : {}),
        })),
        targets: r.targets.map((t) => ({
          chatId: chatIdMap.get(t.chatId)!,
          ...(t.botId !== undefined ? { botId: botIdMap.get(t.botId)! } : {}),
        })),
        template: r.template,
        includeAttachments: r.includeAttachments,
        stopProcessing: r.stopProcessing,
      };
      const row = takeRule(r.name, (e) => !Object.keys(differences(e, values)).length);
      if (!row) {
        await tx.insert(rules).values({ orgId, ...values });
        count('rules', 'created');
        continue;
      }
      const changes = differences(row, values);
      if (Object.keys(changes).length) {
        await tx
          .update(rules)
          .set({ ...changes, updatedAt: new Date() })
          .where(and(eq(rules.orgId, orgId), eq(rules.id, row.id)));
        count('rules', 'updated');
      } else count('rules', 'unchanged');
    }

    // ---- name and settings (the alert chat remapped)
    const [org] = await tx.select().from(organizations).where(eq(organizations.id, orgId));
    const docSettings: Record<string, unknown> = { ...doc.organization.settings };
    if (typeof docSettings.alertChatId === 'string')
      docSettings.alertChatId = chatIdMap.get(docSettings.alertChatId);
    const orgChanges = differences(org!, {
      name: doc.organization.name,
      settings: { ...org!.settings, ...docSettings },
    });
    if (Object.keys(orgChanges).length) {
      await tx
        .update(organizations)
        .set({ ...orgChanges, updatedAt: new Date() })
        .where(eq(organizations.id, orgId));
      if (summary.organization === 'unchanged') summary.organization = 'updated';
    }

    await auditRepository.record(tx, orgId, options.actor, {
      action: 'organization.import',
      targetType: 'organization',
      targetId: orgId,
      after: { summary, warnings, secretsImported: !!sealed, ownersInDocument: ownerIds.size },
    });
    return orgId;
  });

  // Webhook-mode bots: Telegram is told the new URL now that the bot rows exist.
  if (toRegister.length) {
    const botService = createBotService(deps);
    for (const b of toRegister) {
      try {
        await botService.update(orgId, options.actor, b.id, { mode: 'webhook' });
      } catch (err) {
        warnings.push(
          `bot ${b.name}: left in polling mode, Telegram did not take the webhook (${(err as Error).message})`,
        );
      }
    }
  }

  return { orgId, summary, warnings, temporaryPasswords };
}
