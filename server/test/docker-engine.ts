/**
 * The real Docker engine for tests: a private dockerd (scripts/docker-engine.sh) and the
 * registry-free base image notifypro/node-base:local (scripts/docker-base-image.sh).
 *
 * An instance is a directory (default /tmp/np-docker) holding the engine's data, socket and
 * the host state recorded at start. Whoever stops an instance stops it for every user of
 * it: a test file that must stop the engine uses its own `dir`.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';

const scriptsDir = fileURLToPath(new URL('../../scripts/', import.meta.url));

/** The image scripts/docker-base-image.sh builds: this machine's Node.js, user notifypro. */
export const BASE_IMAGE = 'notifypro/node-base:local';
/** uid of the image's non-root user `notifypro`. */
export const BASE_IMAGE_UID = 10001;
export const DEFAULT_DOCKER_DIR = '/tmp/np-docker';

export interface DockerEngine {
  socketPath: string;
  docker: Docker;
}

export interface DockerEngineOptions {
  /** Instance directory (NP_DOCKER_DIR); default /tmp/np-docker. */
  dir?: string;
  /**
   * Docker's default networking (docker0, NAT, iptables rules) instead of none. Only for
   * what needs the default bridge; `--network host` and user-defined networks work without.
   */
  bridge?: boolean;
  /** Throw instead of returning null when the engine cannot be started. */
  required?: boolean;
}

interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runScript(
  script: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      [scriptsDir + script, ...args],
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 4 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function instanceEnv(options: DockerEngineOptions): Record<string, string> {
  return {
    NP_DOCKER_DIR: options.dir ?? DEFAULT_DOCKER_DIR,
    NP_DOCKER_BRIDGE: options.bridge ? '1' : '0',
  };
}

/** Why this process cannot run dockerd at all, or null when it may. */
function cannotRunReason(): string | null {
  if (process.platform !== 'linux') return `dockerd needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'dockerd needs root here (no rootless set-up)';
  return null;
}

/**
 * Starts the instance (installing docker.io on first use), or reuses it when it already
 * answers. Returns null, with the reason logged, when the engine cannot run here.
 */
export async function ensureDockerEngine(
  options: DockerEngineOptions = {},
): Promise<DockerEngine | null> {
  const fail = (reason: string): null => {
    if (options.required) throw new Error(`Docker engine unavailable: ${reason}`);
    console.warn(`[docker-engine] not available: ${reason}`);
    return null;
  };
  const reason = cannotRunReason();
  if (reason) return fail(reason);

  // Up to minutes on a fresh machine (apt installs docker.io), well under 1 s otherwise.
  const result = await runScript('docker-engine.sh', ['start'], instanceEnv(options), 300_000);
  const match = /^export DOCKER_HOST=unix:\/\/(.+)$/m.exec(result.stdout);
  if (result.code !== 0 || !match?.[1]) {
    return fail(
      `scripts/docker-engine.sh start exited ${result.code}: ${result.stderr.trim().slice(-2000)}`,
    );
  }
  const socketPath = match[1];
  const docker = new Docker({ socketPath });
  await docker.ping();
  return { socketPath, docker };
}

/** Stops the instance and undoes its host changes; `purge` also deletes its images. */
export async function stopDockerEngine(
  options: DockerEngineOptions & { purge?: boolean } = {},
): Promise<void> {
  if (cannotRunReason()) return;
  const args = options.purge ? ['stop', '--purge'] : ['stop'];
  const result = await runScript('docker-engine.sh', args, instanceEnv(options), 60_000);
  if (result.code !== 0) {
    throw new Error(`scripts/docker-engine.sh stop exited ${result.code}: ${result.stderr.trim()}`);
  }
}

/** Builds BASE_IMAGE in the engine unless it is there already; returns its name. */
export async function ensureBaseImage(engine: DockerEngine): Promise<string> {
  const result = await runScript(
    'docker-base-image.sh',
    [],
    { DOCKER_HOST: `unix://${engine.socketPath}` },
    120_000,
  );
  if (result.code !== 0) {
    throw new Error(`scripts/docker-base-image.sh exited ${result.code}: ${result.stderr.trim()}`);
  }
  return BASE_IMAGE;
}
