/**
 * `npm run bench [name…]`: runs the benchmarks in this folder and prints their figures as a
 * markdown table, to be copied into docs/benchmarks.md with the date and the machine.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

export type BenchRow = { bench: string; metric: string; value: string; note?: string };
export type Bench = { name: string; run(): Promise<BenchRow[]> };

const dir = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
const rows: BenchRow[] = [];
for (const file of files) {
  const mod = (await import(pathToFileURL(join(dir, file)).href)) as { default: Bench };
  if (wanted.length && !wanted.includes(mod.default.name)) continue;
  console.error(`running ${mod.default.name}…`);
  try {
    rows.push(...(await mod.default.run()));
  } catch (err) {
    rows.push({ bench: mod.default.name, metric: 'error', value: String((err as Error).message) });
  }
}
console.log('| bench | metric | value | note |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.bench} | ${r.metric} | ${r.value} | ${r.note ?? ''} |`);
process.exit(0);
