import { and, count, desc, eq, ilike, isNull } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { logs } from '../../db/schema.js';
import type { ListQuery } from '../../http/list.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogEntry = {
  level: LogLevel;
  source: string;
  message: string;
  context?: Record<string, unknown>;
};
export type LogFilter = ListQuery & { level?: LogLevel | undefined; source?: string | undefined };

/** The system's own event log in PostgreSQL: per org, or installation-wide (org null). */
export const logRepository = {
  async write(db: Executor, orgId: string | null, entry: LogEntry) {
    await db.insert(logs).values({
      orgId,
      level: entry.level,
      source: entry.source,
      message: entry.message,
      context: entry.context ?? {},
    });
  },
  /** orgId `null` lists the whole installation (superadmin); `'system'` only rows without an org. */
  async list(db: Executor, orgId: string | null | 'system', query: LogFilter) {
    const where = and(
      orgId === 'system' ? isNull(logs.orgId) : orgId ? eq(logs.orgId, orgId) : undefined,
      query.level ? eq(logs.level, query.level) : undefined,
      query.source ? eq(logs.source, query.source) : undefined,
      query.q ? ilike(logs.message, `%${query.q}%`) : undefined,
    );
    const [items, [total]] = await Promise.all([
      db
        .select()
        .from(logs)
        .where(where)
        .orderBy(query.order === 'asc' ? logs.id : desc(logs.id))
        .limit(query.limit)
        .offset(query.offset),
      db.select({ n: count() }).from(logs).where(where),
    ]);
    return { items, total: total?.n ?? 0 };
  },
};
