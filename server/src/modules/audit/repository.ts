import { and, count, desc, eq, ilike, or } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { auditLog } from '../../db/schema.js';
import type { Actor } from '../../http/access.js';
import type { ListQuery } from '../../http/list.js';

export type AuditEntry = {
  action: string;
  targetType: string;
  targetId?: string | null;
  before?: unknown;
  after?: unknown;
};

const secretKeys = /password|token|secret|key$|keyHash|hash/i;

/** Drops anything secret-looking before a snapshot is stored. */
function scrub(value: unknown): unknown {
  if (value === null || value === undefined || typeof value !== 'object') return value ?? null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(scrub);
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([k]) => !secretKeys.test(k) || k === 'tokenHint' || k === 'keyHint')
      .map(([k, v]) => [k, scrub(v)]),
  );
}

export const auditRepository = {
  async record(tx: Executor, orgId: string | null, actor: Actor, entry: AuditEntry) {
    await tx.insert(auditLog).values({
      orgId,
      actorType: actor.type,
      actorId: actor.id,
      actorLabel: actor.label,
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId ?? null,
      before: scrub(entry.before),
      after: scrub(entry.after),
      ip: actor.ip,
    });
  },

  async list(
    db: Executor,
    orgId: string,
    query: ListQuery & { action?: string; targetType?: string },
  ) {
    const where = and(
      eq(auditLog.orgId, orgId),
      query.action ? eq(auditLog.action, query.action) : undefined,
      query.targetType ? eq(auditLog.targetType, query.targetType) : undefined,
      query.q
        ? or(ilike(auditLog.action, `%${query.q}%`), ilike(auditLog.actorLabel, `%${query.q}%`))
        : undefined,
    );
    const [items, [total]] = await Promise.all([
      db
        .select()
        .from(auditLog)
        .where(where)
        .orderBy(query.order === 'asc' ? auditLog.id : desc(auditLog.id))
        .limit(query.limit)
        .offset(query.offset),
      db.select({ n: count() }).from(auditLog).where(where),
    ]);
    return { items, total: total?.n ?? 0 };
  },
};
