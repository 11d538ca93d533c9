import { z } from 'zod';
import { roles } from '../../db/schema.js';
import { isoDate } from '../../http/list.js';

export const email = z.string().trim().toLowerCase().email().max(254);
export const password = z.string().min(8, 'must be at least 8 characters').max(256);

export const signupBody = z.object({
  email,
  password,
  name: z.string().trim().min(1).max(120),
  organizationName: z.string().trim().min(1).max(120),
});
export const loginBody = z.object({ email, password: z.string().min(1).max(256) });

export const userSchema = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  isSuperadmin: z.boolean(),
});
export const orgSummary = z.object({ id: z.string(), name: z.string() });
export const roleSchema = z.enum(roles);

export const sessionResponse = z.object({
  token: z.string(),
  expiresAt: isoDate,
  csrfToken: z
    .string()
    .describe('send as X-CSRF-Token when authenticating with the session cookie'),
  user: userSchema,
});
export const meResponse = z.object({
  user: userSchema,
  memberships: z.array(z.object({ organization: orgSummary, role: roleSchema })),
});
