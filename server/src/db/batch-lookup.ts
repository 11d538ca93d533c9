import DataLoader from 'dataloader';

/**
 * A lookup by key that many concurrent requests make (the API key or session of every
 * request): the keys asked for in one turn of the event loop go to PostgreSQL as ONE query,
 * so the database sees one round trip per turn instead of one per request. Nothing is
 * cached between turns: a revoked key is refused by the next request.
 */
export function batchLookup<K, V>(
  load: (keys: readonly K[]) => Promise<V[]>,
  keyOf: (row: V) => K,
  maxBatchSize = 500,
): (key: K) => Promise<V | null> {
  const loader = new DataLoader<K, V | null>(
    async (keys) => {
      const byKey = new Map((await load(keys)).map((row) => [keyOf(row), row]));
      return keys.map((key) => byKey.get(key) ?? null);
    },
    // setImmediate: after every request read in this poll phase, not only this callback's
    { cache: false, maxBatchSize, batchScheduleFn: (run) => setImmediate(run) },
  );
  return (key) => loader.load(key);
}
