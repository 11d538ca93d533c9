import { createTestApp, type TestApp } from './app.js';
import { freePort } from './wait.js';

/**
 * The test api listening on 127.0.0.1, with PUBLIC_URL its own address: what runner
 * processes, Telegram webhooks and the supervisor talk to.
 */
export async function createListeningTestApp(
  env: Record<string, string> = {},
): Promise<{ t: TestApp; address: string }> {
  const port = await freePort();
  const address = `http://127.0.0.1:${port}`;
  const t = await createTestApp({ PUBLIC_URL: address, ...env });
  await t.app.listen({ port, host: '127.0.0.1' });
  return { t, address };
}
