import { z } from 'zod';

/** The list query every collection accepts: `?offset&limit&sort&order&q`. */
export const listQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  sort: z.string().max(64).optional(),
  order: z.enum(['asc', 'desc']).default('desc'),
  q: z.string().max(200).optional(),
});
export type ListQuery = z.infer<typeof listQuery>;

/**
 * The list query of a collection sortable by `fields` (any other `sort` is a 400), `order`
 * defaulting to `order`.
 */
export const sortedListQuery = <const F extends readonly [string, ...string[]]>(
  fields: F,
  order: 'asc' | 'desc' = 'desc',
) =>
  listQuery.extend({
    sort: z.enum(fields).optional(),
    order: z.enum(['asc', 'desc']).default(order),
  });
/** A list query whose `sort` is one of `F`. */
export type SortedListQuery<F extends readonly string[]> = Omit<ListQuery, 'sort'> & {
  sort?: F[number] | undefined;
};

export const listOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), total: z.number().int() });

export const orgParams = z.object({ orgId: z.string() });

export const problemSchema = z
  .object({ status: z.number(), title: z.string(), detail: z.string() })
  .passthrough()
  .describe('application/problem+json');

/** A timestamp: a Date in handlers, an ISO 8601 string on the wire. */
export const isoDate = z.codec(z.iso.datetime(), z.date(), {
  decode: (s) => new Date(s),
  encode: (d) => d.toISOString(),
});
export const nullableIsoDate = isoDate.nullable();

/** A bigserial id: a number in the database, an opaque string on the wire. */
export const numericId = z.codec(z.string(), z.number(), {
  decode: (s) => Number(s),
  encode: (n) => String(n),
});
