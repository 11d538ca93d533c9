import { createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 right now (for a server whose URL must be known before it listens). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/**
 * Polls until `check` returns something truthy and returns it; throws after `ms` with `why()`
 * appended (a process's output, say). For state that other processes change.
 */
export async function eventually<T>(
  check: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  { ms = 20_000, everyMs = 100, why }: { ms?: number; everyMs?: number; why?: () => string } = {},
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until)
      throw new Error(`condition not met within ${ms} ms${why ? `:\n${why()}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
