import { asc, desc, ilike, sql, type AnyColumn, type SQL } from 'drizzle-orm';

/** `column` contains `q` (case-insensitive, `%`, `_` and `\` taken literally); no `q`, no condition. */
export const containing = (column: AnyColumn, q: string | undefined): SQL | undefined =>
  q ? ilike(column, `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`) : undefined;

/**
 * A list's ORDER BY: `column` in `order`, ties broken by `id` in the same direction, so that
 * pages neither repeat nor skip a row. A nullable column's nulls go last either way.
 */
export const sortedBy = (
  column: AnyColumn,
  order: 'asc' | 'desc',
  id: AnyColumn,
  { nullable = false }: { nullable?: boolean } = {},
): SQL[] => {
  const direction = order === 'asc' ? asc : desc;
  return [
    nullable
      ? sql`${column} ${sql.raw(order === 'asc' ? 'asc' : 'desc')} nulls last`
      : direction(column),
    direction(id),
  ];
};

/** A page's items and the count of every match, read together. */
export const pageOf = async <T>(
  items: PromiseLike<T[]>,
  total: PromiseLike<Array<{ n: number }>>,
): Promise<{ items: T[]; total: number }> => {
  const [rows, [counted]] = await Promise.all([items, total]);
  return { items: rows, total: counted?.n ?? 0 };
};
