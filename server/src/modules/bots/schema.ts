import { z } from 'zod';
import { isoDate, nullableIsoDate } from '../../http/list.js';
import { botTokenPattern } from '../../telegram/bot-api.js';

const token = z
  .string()
  .trim()
  .regex(botTokenPattern, 'A bot token looks like 123456789:AA… (from @BotFather)');

export const botSchema = z.object({
  id: z.string(),
  name: z.string(),
  username: z.string().nullable(),
  telegramId: z.number(),
  mode: z.enum(['polling', 'webhook']),
  enabled: z.boolean(),
  status: z.enum(['stopped', 'starting', 'running', 'error']),
  tokenHint: z.string(),
  lastHeartbeatAt: nullableIsoDate,
  lastError: z.string().nullable(),
  createdAt: isoDate,
  updatedAt: isoDate,
});
export const createBotBody = z.object({
  name: z.string().trim().min(1).max(200),
  token,
  mode: z.enum(['polling', 'webhook']).default('polling'),
  enabled: z.boolean().default(true),
});
export const updateBotBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    token,
    mode: z.enum(['polling', 'webhook']),
    enabled: z.boolean(),
  })
  .partial()
  .refine((b) => Object.keys(b).length > 0, 'Nothing to update');
export type CreateBotInput = z.infer<typeof createBotBody>;
export type UpdateBotInput = z.infer<typeof updateBotBody>;
