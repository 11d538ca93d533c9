import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BASE_IMAGE,
  BASE_IMAGE_UID,
  ensureBaseImage,
  ensureDockerEngine,
  stopDockerEngine,
  type DockerEngine,
  type DockerEngineOptions,
} from './docker-engine.js';

const run = promisify(execFile);

// Own instances, so stopping them cannot break another test file's engine.
const instance: DockerEngineOptions = { dir: '/tmp/np-docker-selftest' };
const bridgedInstance: DockerEngineOptions = {
  dir: '/tmp/np-docker-selftest-bridge',
  bridge: true,
};
// On a root Linux machine (this one, CI) the engine must work; elsewhere the file skips.
const required = process.platform === 'linux' && process.getuid?.() === 0;
const label = 'org.notifypro.test';
const runId = `docker-engine-${process.pid}-${Date.now()}`;

/** iptables rules, user chains, non-ACCEPT policies; bridges; IP forwarding. */
async function hostNetworkState(): Promise<string> {
  const lines: string[] = [];
  for (const command of ['iptables-save', 'ip6tables-save']) {
    let out = '';
    try {
      out = (await run(command)).stdout;
    } catch {
      // Not installed yet (docker.io brings iptables): no rules.
    }
    let table = '';
    for (const line of out.split('\n')) {
      if (line.startsWith('*')) table = line;
      else if (line.startsWith('-A ')) lines.push(`${command} ${table} ${line}`);
      else if (line.startsWith(':')) {
        const [chain, policy] = line.split(' ');
        if (policy !== 'ACCEPT') lines.push(`${command} ${table} ${chain} ${policy}`);
      }
    }
  }
  const bridges = (await run('ip', ['-o', 'link', 'show', 'type', 'bridge'])).stdout;
  for (const line of bridges.split('\n')) {
    const name = line.split(': ')[1]?.split('@')[0];
    if (name) lines.push(`bridge ${name}`);
  }
  lines.push(`ip_forward ${(await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim()}`);
  return lines.sort().join('\n');
}

async function runToExit(docker: Docker, options: Docker.ContainerCreateOptions) {
  const container = await docker.createContainer({
    Labels: { [label]: runId },
    ...options,
    HostConfig: { NetworkMode: 'host', ...options.HostConfig },
  });
  const exited = container.wait({ condition: 'next-exit' });
  await container.start();
  const { StatusCode } = (await exited) as { StatusCode: number };
  const logs = (await container.logs({ stdout: true, stderr: true })).toString('utf8');
  return { container, status: StatusCode, logs };
}

const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(2);
const figures: string[] = [];

let engine: DockerEngine | null = null;
let before = '';
let scratch = '';

describe.skipIf(!required)('the Docker engine harness', () => {
  beforeAll(async () => {
    before = await hostNetworkState();
    scratch = await mkdtemp(path.join(tmpdir(), 'np-docker-test-'));
    const t0 = performance.now();
    engine = await ensureDockerEngine({ ...instance, required });
    figures.push(`engine start ${seconds(t0)} s`);
  }, 320_000);

  afterAll(async () => {
    // Purged: each run proves the base image build, and nothing is left in /tmp.
    await stopDockerEngine({ ...instance, purge: true });
    await stopDockerEngine({ ...bridgedInstance, purge: true });
    if (scratch) await rm(scratch, { recursive: true, force: true });
    console.info(`[docker-engine] ${figures.join('; ')}`);
  }, 120_000);

  const engineOf = () => {
    if (!engine) throw new Error('engine not started');
    return engine;
  };

  it('starts a private dockerd that answers on its own socket', async () => {
    const { docker, socketPath } = engineOf();
    expect(socketPath).toBe(`${instance.dir}/docker.sock`);
    const info = await docker.info();
    expect(info.ServerVersion).toMatch(/^20\.10\./);
    expect(info.DockerRootDir).toBe(`${instance.dir}/data`);
  });

  it('builds the node base image without a registry and caches it', async () => {
    const { docker } = engineOf();
    const t0 = performance.now();
    await ensureBaseImage(engineOf());
    figures.push(`base image ${seconds(t0)} s`);
    const t1 = performance.now();
    await ensureBaseImage(engineOf());
    figures.push(`base image cached ${seconds(t1)} s`);
    const image = await docker.getImage(BASE_IMAGE).inspect();
    expect(image.Config.User).toBe('notifypro');
    expect(image.Config.Labels?.['org.notifypro.node-version']).toBe(process.version);
    figures.push(`image size ${Math.round(image.Size / 1e6)} MB`);
  });

  it('runs node in a base-image container as the non-root user and exits 0', async () => {
    const { docker } = engineOf();
    const t0 = performance.now();
    const { status, logs } = await runToExit(docker, {
      Image: BASE_IMAGE,
      Cmd: ['node', '-e', 'console.log(1, process.getuid(), require("os").userInfo().username)'],
    });
    figures.push(`container create+start+exit ${seconds(t0)} s`);
    expect(status).toBe(0);
    expect(logs).toContain(`1 ${BASE_IMAGE_UID} notifypro`);
  });

  it('builds FROM the base image with the classic builder and runs it with --pull never', async () => {
    const { socketPath } = engineOf();
    const context = path.join(scratch, 'context');
    await mkdir(context);
    await writeFile(
      path.join(context, 'Dockerfile'),
      [
        `FROM ${BASE_IMAGE}`,
        'COPY --chown=notifypro:notifypro hello.js ./',
        'RUN node hello.js > built.txt',
        `LABEL ${label}=${runId}`,
        'CMD ["node", "-e", "process.stdout.write(require(\'fs\').readFileSync(\'built.txt\', \'utf8\'))"]',
      ].join('\n'),
    );
    await writeFile(
      path.join(context, 'hello.js'),
      'console.log("hello from", process.getuid());\n',
    );
    const env = { ...process.env, DOCKER_HOST: `unix://${socketPath}`, DOCKER_BUILDKIT: '0' };
    const tag = `notifypro/docker-engine-test:${process.pid}`;
    const t0 = performance.now();
    await run('/usr/bin/docker', ['build', '-q', '-t', tag, context], { env });
    figures.push(`docker build FROM base ${seconds(t0)} s`);
    const t1 = performance.now();
    const { stdout } = await run(
      '/usr/bin/docker',
      ['run', '--rm', '--pull', 'never', '--network', 'host', tag],
      { env },
    );
    figures.push(`docker run --rm ${seconds(t1)} s`);
    expect(stdout).toBe(`hello from ${BASE_IMAGE_UID}\n`);
    await run('/usr/bin/docker', ['rmi', tag], { env });
  });

  it('restarts an on-failure container until it exits 0', async () => {
    const { docker } = engineOf();
    // The container counts its runs in a bind-mounted file and fails the first two.
    await chmod(scratch, 0o777);
    const script =
      'const f = "/runs/count"; const fs = require("fs");' +
      'const n = (fs.existsSync(f) ? Number(fs.readFileSync(f, "utf8")) : 0) + 1;' +
      'fs.writeFileSync(f, String(n)); console.log("run", n); process.exit(n < 3 ? 1 : 0);';
    const container = await docker.createContainer({
      Image: BASE_IMAGE,
      Cmd: ['node', '-e', script],
      Labels: { [label]: runId },
      HostConfig: {
        NetworkMode: 'host',
        Binds: [`${scratch}:/runs`],
        RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 5 },
      },
    });
    const t0 = performance.now();
    await container.start();
    let state: Docker.ContainerInspectInfo | undefined;
    for (let i = 0; i < 100; i++) {
      state = await container.inspect();
      if (!state.State.Running && !state.State.Restarting && state.RestartCount >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    figures.push(`3 runs with 2 restarts ${seconds(t0)} s`);
    expect(state?.RestartCount).toBe(2);
    expect(state?.State.ExitCode).toBe(0);
    expect(await readFile(path.join(scratch, 'count'), 'utf8')).toBe('3');
  });

  it('lists the test containers by label and removes them', async () => {
    const { docker } = engineOf();
    const byLabel = { all: true, filters: { label: [`${label}=${runId}`] } };
    const listed = await docker.listContainers(byLabel);
    expect(listed.length).toBe(2); // the node run and the restarted one
    expect(
      await docker.listContainers({ all: true, filters: { label: [`${label}=someone-else`] } }),
    ).toEqual([]);
    await Promise.all(listed.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    expect(await docker.listContainers(byLabel)).toEqual([]);
  });

  it('stops the engine and leaves iptables, bridges and IP forwarding as before', async () => {
    const t0 = performance.now();
    await stopDockerEngine(instance);
    figures.push(`engine stop ${seconds(t0)} s`);
    expect(existsSync(`${instance.dir}/docker.sock`)).toBe(false);
    expect(existsSync(`${instance.dir}/dockerd.pid`)).toBe(false);
    expect(await hostNetworkState()).toBe(before);
  });

  it("undoes Docker's default networking (FORWARD DROP, DOCKER chains, MASQUERADE, docker0) on stop", async () => {
    const bridged = await ensureDockerEngine({ ...bridgedInstance, required });
    expect(bridged).not.toBeNull();
    const during = await hostNetworkState();
    expect(during).toContain('bridge docker0');
    expect(during).toContain(':FORWARD DROP');
    expect(during).toMatch(/POSTROUTING -s 172\.17\.0\.0\/16 ! -o docker0 -j MASQUERADE/);
    await stopDockerEngine(bridgedInstance);
    expect(await hostNetworkState()).toBe(before);
  });
});
