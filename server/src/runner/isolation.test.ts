import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = fileURLToPath(new URL('.', import.meta.url));
const sources = (d: string): string[] =>
  readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(d, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')
        ? [join(d, e.name)]
        : [],
  );
const importsOf = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)[^'"]*from\s+'([^']+)'/gm)].map(
    (m) => m[1]!,
  );

describe('the runner is isolated by design', () => {
  it('imports neither the database nor the domain modules (it talks to the api only)', () => {
    const offending = sources(dir).flatMap((file) =>
      importsOf(file)
        .filter((spec) => /(^|\/)(db|modules)\/|^(pg|drizzle-orm|fastify)/.test(spec))
        .map((spec) => `${file.slice(dir.length)} → ${spec}`),
    );
    expect(offending).toEqual([]);
  });

  it('keeps zod, the HTML renderer and fetch() out of runner processes (memory, lite mode)', () => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of importsOf(file)) {
        if (!spec.startsWith('.')) {
          expect([file.slice(dir.length), spec]).not.toContainEqual(
            expect.stringMatching(/^(zod|marked|htmlparser2|pino-pretty)$/),
          );
          continue;
        }
        visit(join(file, '..', spec.replace(/\.js$/, '.ts')));
      }
    };
    visit(join(dir, 'entry.ts'));
    expect(seen.size).toBeGreaterThan(3);
    // Runners run in V8 lite mode, where fetch() (undici's WebAssembly parser) cannot work.
    const fetching = [...seen].filter((f) => /\bfetch\(/.test(readFileSync(f, 'utf8')));
    expect(fetching.map((f) => f.slice(dir.length))).toEqual([]);
  });
});
