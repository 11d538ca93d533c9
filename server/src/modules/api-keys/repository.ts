import { and, desc, eq, isNull } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { apiKeys, type Role } from '../../db/schema.js';

const publicColumns = {
  id: apiKeys.id,
  name: apiKeys.name,
  role: apiKeys.role,
  keyHint: apiKeys.keyHint,
  createdAt: apiKeys.createdAt,
  expiresAt: apiKeys.expiresAt,
  lastUsedAt: apiKeys.lastUsedAt,
};

export const apiKeyRepository = {
  async list(db: Executor, orgId: string) {
    return db
      .select(publicColumns)
      .from(apiKeys)
      .where(and(eq(apiKeys.orgId, orgId), isNull(apiKeys.revokedAt)))
      .orderBy(desc(apiKeys.createdAt));
  },
  async insert(
    db: Executor,
    orgId: string,
    values: {
      name: string;
      role: Role;
      keyHash: string;
      keyHint: string;
      expiresAt: Date | null;
      createdByUserId: string | null;
    },
  ) {
    const [row] = await db
      .insert(apiKeys)
      .values({ orgId, ...values })
      .returning(publicColumns);
    return row!;
  },
  async revoke(db: Executor, orgId: string, id: string) {
    const [row] = await db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.orgId, orgId), eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
      .returning(publicColumns);
    return row ?? null;
  },
};
