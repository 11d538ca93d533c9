import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../bin/notifypro.js', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'np-start-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(
  port: number,
  child: ChildProcess,
  output: () => string,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited early (${child.exitCode}): ${output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      const body = (await res.json()) as Record<string, unknown>;
      if (res.status === 200) return body;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not ready in time: ${output()}`);
}

async function startOnce(): Promise<{ signupStatus: number; exitCode: number | null }> {
  const port = await freePort();
  const env = {
    ...process.env,
    DATA_DIR: dataDir,
    PORT: String(port),
    LOG_LEVEL: 'info',
  } as NodeJS.ProcessEnv;
  delete env.DATABASE_URL;
  delete env.SECRET_KEY;
  const child = spawn(process.execPath, [cli, 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  try {
    const ready = await waitReady(port, child, () => out);
    expect(ready.status).toBe('ready');
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: 'owner@example.test',
        password: 'long enough pw',
        name: 'Owner',
        organizationName: 'Hotel',
      }),
    });
    await res.text();
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    child.kill('SIGTERM');
    return { signupStatus: res.status, exitCode: await exited };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

describe('notifypro start without DATABASE_URL', () => {
  it('boots the embedded PostgreSQL, migrates, serves /readyz, stops cleanly, and starts again on the same data', async () => {
    const first = await startOnce();
    expect(first.signupStatus).toBe(201);
    expect(first.exitCode).toBe(0);
    expect(existsSync(join(dataDir, 'secret.key'))).toBe(true);
    // The embedded server was stopped with the process: no pid file left behind.
    expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    const second = await startOnce();
    // The account made in the first run is still there: a duplicate now.
    expect(second.signupStatus).toBe(409);
    expect(second.exitCode).toBe(0);
  }, 120_000);
});
