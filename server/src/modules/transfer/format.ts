/**
 * The organization export document, version 1: an org's configuration as one JSON document
 * (no events, deliveries or logs). Ids in it are the exporting installation's; they only tie
 * the document together (rules → chats, mailboxes, webhooks; chats → bots) and are remapped
 * on import, where rows are matched by natural keys instead.
 */
import { z } from 'zod';
import { passphraseBox } from '../../crypto/passphrase.js';
import { roles } from '../../db/schema.js';
import { orgSettings } from '../orgs/routes.js';
import { ruleCondition } from '../rules/routes.js';

export const exportFormat = 'notifypro-org-export';
export const exportVersion = 1;
/** Additional data of the AES-GCM box: the secrets open only as what they were sealed as. */
export const secretsAad = `${exportFormat}:v${exportVersion}:secrets`;

const ref = z.string().min(1).max(100);
const text = (max: number) => z.string().max(max);
const name = z.string().trim().min(1).max(200);
const telegramId = z
  .number()
  .int()
  .min(-(2 ** 53) + 1)
  .max(2 ** 53 - 1);
const list = <T extends z.ZodType>(item: T, max: number) => z.array(item).max(max).default([]);

const member = z
  .object({
    email: z.email().max(320),
    name: text(200).default(''),
    role: z.enum(roles),
  })
  .strict();

const bot = z
  .object({
    id: ref,
    name,
    telegramId: telegramId.refine((v) => v > 0, 'a bot id is positive'),
    username: text(100).nullable().default(null),
    mode: z.enum(['polling', 'webhook']).default('polling'),
    enabled: z.boolean().default(true),
  })
  .strict();

const chat = z
  .object({
    id: ref,
    telegramChatId: telegramId,
    type: z.enum(['private', 'group', 'supergroup', 'channel']),
    title: text(300).nullable().default(null),
    username: text(100).nullable().default(null),
    status: z.enum(['active', 'inactive']).default('active'),
    language: text(20).nullable().default(null),
    bots: list(
      z
        .object({
          botId: ref,
          status: z.enum(['active', 'inactive']).default('active'),
          reason: text(1000).nullable().default(null),
        })
        .strict(),
      100,
    ),
  })
  .strict();

const mailbox = z
  .object({
    id: ref,
    name,
    protocol: z.enum(['imap', 'pop3']),
    host: z.string().trim().min(1).max(255),
    port: z.number().int().min(1).max(65535),
    security: z.enum(['tls', 'starttls', 'none']),
    username: z.string().min(1).max(320),
    authType: z.enum(['password', 'oauth2']).default('password'),
    folder: z.string().min(1).max(500).default('INBOX'),
    mode: z.enum(['idle', 'poll']).default('idle'),
    pollIntervalSeconds: z.number().int().min(10).max(86400).default(60),
    markSeen: z.boolean().default(false),
    enabled: z.boolean().default(true),
  })
  .strict();

const webhook = z
  .object({
    id: ref,
    name,
    token: z
      .string()
      .regex(/^[A-Za-z0-9_-]{16,200}$/, 'letters, digits, _ and -, 16 to 200 characters'),
    enabled: z.boolean().default(true),
    hasHmacSecret: z.boolean().default(false),
  })
  .strict();

const rule = z
  .object({
    id: ref,
    name,
    enabled: z.boolean().default(true),
    priority: z.number().int().min(0).max(1_000_000).default(100),
    sources: z
      .object({
        mailboxIds: z.array(ref).max(500).optional(),
        webhookIds: z.array(ref).max(500).optional(),
      })
      .strict()
      .default({}),
    match: z.enum(['all', 'any']).default('all'),
    conditions: z.array(ruleCondition).max(50).default([]),
    targets: z
      .array(z.object({ chatId: ref, botId: ref.optional() }).strict())
      .min(1)
      .max(50),
    template: text(4000).nullable().default(null),
    includeAttachments: z.boolean().default(false),
    stopProcessing: z.boolean().default(false),
  })
  .strict();

/** The whole document; every reference inside it is checked to resolve (superRefine). */
export const exportDocument = z
  .object({
    format: z.literal(exportFormat),
    version: z.literal(exportVersion),
    exportedAt: z.string().max(40).optional(),
    organization: z
      .object({ name: z.string().trim().min(1).max(120), settings: orgSettings.default({}) })
      .strict(),
    members: list(member, 10_000),
    bots: list(bot, 1_000),
    chats: list(chat, 20_000),
    mailboxes: list(mailbox, 5_000),
    webhooks: list(webhook, 5_000),
    rules: list(rule, 10_000),
    /** Bot tokens, mailbox passwords and OAuth2 grants, webhook HMAC secrets; null: not exported. */
    secrets: passphraseBox.nullable().default(null),
  })
  .strict()
  .superRefine((doc, ctx) => {
    const unique = (
      items: Array<Record<string, unknown>>,
      key: (i: never) => unknown,
      field: string,
      label: string,
    ) => {
      const seen = new Set<unknown>();
      items.forEach((item, i) => {
        const k = key(item as never);
        if (seen.has(k))
          ctx.addIssue({ code: 'custom', path: [field, i], message: `duplicate ${label}` });
        seen.add(k);
      });
    };
    for (const [field, items] of [
      ['bots', doc.bots],
      ['chats', doc.chats],
      ['mailboxes', doc.mailboxes],
      ['webhooks', doc.webhooks],
      ['rules', doc.rules],
    ] as const)
      unique(items, (i: { id: string }) => i.id, field, 'id');
    unique(doc.bots, (b: { telegramId: number }) => b.telegramId, 'bots', 'telegramId');
    unique(
      doc.chats,
      (c: { telegramChatId: number }) => c.telegramChatId,
      'chats',
      'telegramChatId',
    );
    unique(doc.webhooks, (w: { token: string }) => w.token, 'webhooks', 'token');
    unique(doc.members, (m: { email: string }) => m.email.toLowerCase(), 'members', 'email');

    const botIds = new Set(doc.bots.map((b) => b.id));
    const chatIds = new Set(doc.chats.map((c) => c.id));
    const mailboxIds = new Set(doc.mailboxes.map((m) => m.id));
    const webhookIds = new Set(doc.webhooks.map((w) => w.id));
    const mustExist = (ids: Set<string>, id: string, path: (string | number)[], what: string) => {
      if (!ids.has(id))
        ctx.addIssue({ code: 'custom', path, message: `no ${what} with id ${id} in the document` });
    };
    doc.chats.forEach((c, i) =>
      c.bots.forEach((l, j) => mustExist(botIds, l.botId, ['chats', i, 'bots', j, 'botId'], 'bot')),
    );
    doc.rules.forEach((r, i) => {
      r.targets.forEach((t, j) => {
        mustExist(chatIds, t.chatId, ['rules', i, 'targets', j, 'chatId'], 'chat');
        if (t.botId !== undefined)
          mustExist(botIds, t.botId, ['rules', i, 'targets', j, 'botId'], 'bot');
      });
      r.sources.mailboxIds?.forEach((id, j) =>
        mustExist(mailboxIds, id, ['rules', i, 'sources', 'mailboxIds', j], 'mailbox'),
      );
      r.sources.webhookIds?.forEach((id, j) =>
        mustExist(webhookIds, id, ['rules', i, 'sources', 'webhookIds', j], 'webhook'),
      );
    });
    const alertChatId = doc.organization.settings.alertChatId;
    if (alertChatId)
      mustExist(chatIds, alertChatId, ['organization', 'settings', 'alertChatId'], 'chat');
  });
export type ExportDocument = z.infer<typeof exportDocument>;
export type ExportDocumentInput = z.input<typeof exportDocument>;

const oauth2Secret = z
  .object({
    tokenUrl: z.url().max(2000),
    clientId: z.string().min(1).max(500),
    clientSecret: z.string().min(1).max(2000).optional(),
    refreshToken: z.string().min(1).max(8000),
    accessToken: z.string().min(1).max(8000).optional(),
    expiresAt: z.number().optional(),
  })
  .strict();

/** What the passphrase box holds, keyed by the document's ids. */
export const sealedSecrets = z
  .object({
    bots: z.record(ref, z.string().min(1).max(200)).default({}),
    mailboxes: z
      .record(
        ref,
        z.union([
          z.object({ password: z.string().min(1).max(1000) }).strict(),
          z.object({ oauth2: oauth2Secret }).strict(),
        ]),
      )
      .default({}),
    webhooks: z.record(ref, z.string().min(8).max(500)).default({}),
  })
  .strict();
export type SealedSecrets = z.infer<typeof sealedSecrets>;
