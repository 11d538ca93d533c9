import { z } from 'zod';
import { isoDate, sortedListQuery } from '../../http/list.js';
import { chatSortFields } from './repository.js';

export const chatTypes = ['private', 'group', 'supergroup', 'channel'] as const;

export const chatSchema = z.object({
  id: z.string(),
  telegramChatId: z.number(),
  type: z.enum(chatTypes),
  title: z.string().nullable(),
  username: z.string().nullable(),
  status: z.enum(['active', 'inactive']),
  language: z.string().nullable(),
  botIds: z.array(z.string()),
  /** Each linked bot's own view: active, or inactive with why (kicked, left, blocked…). */
  links: z.array(
    z.object({
      botId: z.string(),
      status: z.enum(['active', 'inactive']),
      reason: z.string().nullable(),
    }),
  ),
  createdAt: isoDate,
  updatedAt: isoDate,
});
/** The list query (sorted by createdAt ascending unless told) and the chats' own filters. */
export const chatQuery = sortedListQuery(chatSortFields, 'asc').extend({
  type: z.enum(chatTypes).optional(),
  botId: z.string().uuid().optional(),
});
export const createChatBody = z.object({
  telegramChatId: z.number().int().safe(),
  title: z.string().trim().min(1).max(255).optional(),
  botIds: z.array(z.string().uuid()).min(1).max(50),
});
export const updateChatBody = z
  .object({
    title: z.string().trim().min(1).max(255),
    botIds: z.array(z.string().uuid()).max(50),
    status: z.enum(['active', 'inactive']),
  })
  .partial()
  .refine((b) => Object.keys(b).length > 0, 'Nothing to update');

/** A chat as Telegram describes it in updates. */
export const telegramChatSchema = z.object({
  id: z.number().int(),
  type: z.enum(chatTypes),
  title: z.string().max(255).optional(),
  username: z.string().max(64).optional(),
  first_name: z.string().max(255).optional(),
  last_name: z.string().max(255).optional(),
});
export type TelegramChat = z.infer<typeof telegramChatSchema>;
