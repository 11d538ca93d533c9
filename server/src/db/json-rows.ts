import { getTableColumns, type Table } from 'drizzle-orm';

/**
 * Turns a row PostgreSQL built as JSON (`row_to_json`, `json_agg` of a table's rows: snake_case
 * keys, timestamps as ISO strings) into the row Drizzle's select would have returned (camelCase
 * keys, Dates, numbers), by each column's own driver mapping. Lets one statement return rows of
 * several tables (a CTE) without a round trip per table.
 */
export function rowFromJson<T extends Table>(
  table: T,
  json: Record<string, unknown>,
): T['$inferSelect'] {
  const row: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) {
    const value = json[column.name];
    row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
  }
  return row as T['$inferSelect'];
}
