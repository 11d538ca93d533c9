import { describe, expect, it } from 'vitest';
import { batchLookup } from './batch-lookup.js';

describe('batchLookup', () => {
  it('lookups of one event-loop turn are one load; each gets its own row or null', async () => {
    const loads: string[][] = [];
    const rows = new Map([
      ['a', { key: 'a', n: 1 }],
      ['b', { key: 'b', n: 2 }],
    ]);
    const find = batchLookup(
      async (keys: readonly string[]) => {
        loads.push([...keys]);
        return keys.flatMap((k) => rows.get(k) ?? []);
      },
      (row) => row.key,
    );
    // requests read in the same poll phase: separate callbacks, one turn
    const asked = await Promise.all(
      ['a', 'x', 'b', 'a'].map(
        (k) => new Promise((resolve) => setImmediate(() => resolve(find(k)))),
      ),
    );
    expect(asked).toEqual([{ key: 'a', n: 1 }, null, { key: 'b', n: 2 }, { key: 'a', n: 1 }]);
    expect(loads).toHaveLength(1);
    // nothing is remembered between turns: a row gone since is not found
    rows.delete('a');
    expect(await find('a')).toBeNull();
    expect(loads).toHaveLength(2);
  });

  it('a failed load fails only the lookups of that turn', async () => {
    let fail = true;
    const find = batchLookup(
      async (keys: readonly string[]) => {
        if (fail) throw new Error('database down');
        return keys.map((key) => ({ key }));
      },
      (row) => row.key,
    );
    await expect(Promise.all([find('a'), find('b')])).rejects.toThrow('database down');
    fail = false;
    expect(await find('a')).toEqual({ key: 'a' });
  });

  it('splits a turn with more keys than maxBatchSize', async () => {
    const sizes: number[] = [];
    const find = batchLookup(
      async (keys: readonly number[]) => {
        sizes.push(keys.length);
        return keys.map((key) => ({ key }));
      },
      (row) => row.key,
      3,
    );
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map((k) => find(k)));
    expect(sizes).toEqual([3, 3, 1]);
  });
});
