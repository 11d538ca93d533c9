import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunnerDriver, RunnerExitInfo, RunnerHandle, RunnerSpec } from './driver.js';

/**
 * V8 flags for runner processes: a 1 MB young generation and no optimizing compiler. A runner
 * waits on the network and sends at most ~30 messages/s, so interpreted code is plenty, and
 * these keep it near 50 MB resident instead of ~65 (see docs/benchmarks.md, runner-memory).
 * Lite mode cannot run WebAssembly, so it is off explicitly (else V8 warns at every start).
 */
export const defaultRunnerNodeFlags = [
  '--max-semi-space-size=1',
  '--lite-mode',
  '--no-expose-wasm',
];

/** The runner's entry: the built file next to this one, or the source through tsx. */
function runnerCommand(): { args: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(fromSource ? '../entry.ts' : '../entry.js', import.meta.url));
  return { args: fromSource ? ['--import', 'tsx', entry] : [entry] };
}

/** Each runner is its own child process: a crash, a leak or a hang stays in it. */
export function createProcessDriver(
  options: {
    stopGraceMs?: number;
    inheritOutput?: boolean;
    /** Node arguments that run a runner entry (default: this build's own entry). */
    args?: string[];
    /** Flags before the entry (default defaultRunnerNodeFlags). */
    nodeFlags?: string[];
  } = {},
): RunnerDriver {
  const args = [
    ...(options.nodeFlags ?? defaultRunnerNodeFlags),
    ...(options.args ?? runnerCommand().args),
  ];
  return {
    name: 'process',
    async start(spec: RunnerSpec): Promise<RunnerHandle> {
      // Only what a runner needs: no DATABASE_URL, no SECRET_KEY reach it.
      const env = {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        NODE_ENV: process.env.NODE_ENV ?? '',
        ...spec.env,
      };
      const child = spawn(process.execPath, args, {
        env,
        stdio: ['ignore', options.inheritOutput === false ? 'ignore' : 'inherit', 'inherit'],
      });
      const exited = new Promise<RunnerExitInfo>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal }));
        child.once('error', () => resolve({ code: null, signal: 'spawn-error' }));
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', () => resolve());
        child.once('error', reject);
      });
      const kill = async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      };
      return {
        id: String(child.pid),
        exited,
        kill,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const timer = setTimeout(() => void kill(), options.stopGraceMs ?? 8_000);
          await exited;
          clearTimeout(timer);
        },
      };
    },
  };
}
