/**
 * Deployment artefacts: the compose file validates, and the image (built offline here from
 * notifypro/node-base:local) prints its roles and serves /readyz against real PostgreSQL.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BASE_IMAGE,
  ensureBaseImage,
  ensureDockerEngine,
  stopDockerEngine,
  type DockerEngine,
} from './docker-engine.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../', import.meta.url));
const ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const instance = { dir: '/tmp/np-docker-deploy' };
const required = process.platform === 'linux' && process.getuid?.() === 0;
const image = `notifypro/test-deploy:${process.pid}`;

/** Packages only the web build or the tooling needs: left out of the offline image. */
const devOnly = new Set([
  '@mui',
  '@rolldown',
  '@esbuild-kit',
  'date-fns',
  'typescript',
  'typescript-eslint',
  '@typescript-eslint',
  'drizzle-kit',
  'playwright-core',
  'recharts',
  'vite',
  'vitest',
  '@vitest',
  'eslint',
  '@eslint',
  'prettier',
  'jsdom',
  '@testing-library',
  'react-admin',
  'ra-core',
  'ra-ui-materialui',
  'ra-i18n-polyglot',
  'ra-language-russian',
  'lightningcss',
  'lightningcss-linux-x64-gnu',
  'lightningcss-linux-x64-musl',
  '@types',
  'es-toolkit',
  // bundled into web/dist, not needed by the server at run time
  'react',
  'react-dom',
  'react-router',
  'react-router-dom',
  '@emotion',
  '@tanstack',
  '@reduxjs',
  '@babel',
]);

/**
 * server/dist as `npm run build -w server` makes it (JavaScript beside the SQL migrations),
 * but transpiled by esbuild in well under a second instead of tsc's minute on two cores;
 * the type check is the typecheck script's job, not the image's.
 */
async function compileServer(outDir: string): Promise<void> {
  const src = path.join(repo, 'server/src');
  const entryPoints = (await readdir(src, { recursive: true }))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => path.join(src, f));
  const { build } = await import('esbuild');
  await build({
    entryPoints,
    outdir: outDir,
    outbase: src,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
  });
  await cp(path.join(src, 'db/migrations'), path.join(outDir, 'db/migrations'), {
    recursive: true,
  });
}

/**
 * The offline build context: the host's installed packages (hard links, minus dev-only
 * ones), the compiled server (server/dist, so runners run dist/runner/entry.js) and web/dist.
 */
async function prepareOfflineContext(dir: string): Promise<void> {
  for (const f of ['package.json', 'package-lock.json'])
    await cp(path.join(repo, f), path.join(dir, f));
  await mkdir(path.join(dir, 'server'));
  for (const f of ['package.json', 'bin'])
    await cp(path.join(repo, 'server', f), path.join(dir, 'server', f), { recursive: true });
  await compileServer(path.join(dir, 'server/dist'));
  await mkdir(path.join(dir, '.empty'));
  await mkdir(path.join(dir, 'web'));
  await cp(path.join(repo, 'web/package.json'), path.join(dir, 'web/package.json'));
  await mkdir(path.join(dir, 'web/dist'));
  if (existsSync(path.join(repo, 'web/dist')))
    await cp(path.join(repo, 'web/dist'), path.join(dir, 'web/dist'), { recursive: true });
  // System libraries the native addons need that the minimal base image lacks.
  await mkdir(path.join(dir, '.syslibs'));
  for (const lib of ['librt.so.1', 'libdl.so.2', 'libpthread.so.0', 'libgcc_s.so.1'])
    await cp(path.join('/lib/x86_64-linux-gnu', lib), path.join(dir, '.syslibs', lib));
  await mkdir(path.join(dir, 'node_modules'));
  for (const name of await readdir(path.join(repo, 'node_modules'))) {
    if (devOnly.has(name) || name === '.cache') continue;
    // cp -al: hard links, so the copy is instant and takes no space.
    await run('cp', [
      '-al',
      path.join(repo, 'node_modules', name),
      path.join(dir, 'node_modules', name),
    ]);
  }
}

/**
 * Polls the container's /readyz until it answers 2xx or `deadline` (epoch ms) passes; answers
 * the last status seen, printing the container's log when it is not `ready`.
 */
async function readyWithin(
  port: number,
  container: string,
  env: NodeJS.ProcessEnv,
  deadline: number,
): Promise<string | undefined> {
  let body: { status?: string } = {};
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      body = (await res.json()) as { status?: string };
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (body.status !== 'ready')
    console.log(
      (await run('docker', ['logs', container], { env }).catch((e) => e as { stdout: string }))
        .stdout,
    );
  return body.status;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** One service's block of `docker-compose config` output (normalized YAML, 2-space indent). */
function serviceBlock(config: string, name: string): string {
  const services = config.slice(config.indexOf('\nservices:\n'));
  const start = services.indexOf(`\n  ${name}:\n`);
  if (start < 0) throw new Error(`no service ${name} in:\n${config}`);
  const rest = services.slice(start + 1);
  const end = rest.slice(1).search(/\n( {2}\S|\S)/);
  return end < 0 ? rest : rest.slice(0, end + 1);
}

describe('deploy/docker-compose.yml', () => {
  let config = '';
  beforeAll(async () => {
    config = (
      await run(
        'docker-compose',
        ['--env-file', 'deploy/.env.example', '-f', 'deploy/docker-compose.yml', 'config'],
        { cwd: repo },
      )
    ).stdout;
  });

  it('validates with docker-compose config and the sample env', () => {
    for (const service of ['postgres', 'api', 'worker', 'bots', 'caddy'])
      expect(serviceBlock(config, service)).toContain(`  ${service}:`);
  });

  it('gives PostgreSQL a password, a volume and a healthcheck the roles wait for', () => {
    const pg = serviceBlock(config, 'postgres');
    expect(pg).toMatch(/POSTGRES_PASSWORD: \S+/);
    expect(pg).toContain('pgdata:/var/lib/postgresql/data');
    expect(pg).toContain('pg_isready');
    for (const role of ['api', 'worker', 'bots']) {
      const block = serviceBlock(config, role);
      expect(block, role).toMatch(/postgres:\n\s+condition: service_healthy/);
      expect(block, role).toContain('DATABASE_URL: postgres://notifypro:');
      expect(block, role).toMatch(/SECRET_KEY: \S+/);
    }
  });

  it('runs bots with the docker driver: the socket, the same image, the api and the compose network', () => {
    const bots = serviceBlock(config, 'bots');
    const image = /\n {4}image: (\S+)/.exec(bots)?.[1];
    expect(image).toBeTruthy();
    expect(bots).toContain('BOT_RUNNER: docker');
    expect(bots).toContain(`RUNNER_IMAGE: ${image}`);
    expect(bots).toContain('INTERNAL_API_URL: http://api:3000');
    expect(bots).toContain('/var/run/docker.sock:/var/run/docker.sock');
    expect(bots).toMatch(/group_add:\n\s+- '\d+'/);
    // Runner containers join the network the api is on, under the name compose gives it.
    const network = /(?:^|\n)networks:\n {2}(\S+):\n {4}name: (\S+)/.exec(config);
    expect(network).not.toBeNull();
    expect(bots).toContain(`RUNNER_DOCKER_NETWORK: ${network![2]}`);
    expect(serviceBlock(config, 'api')).toContain(`networks:\n      ${network![1]}: null`);
    expect(serviceBlock(config, 'api')).toContain(`image: ${image}`);
    expect(serviceBlock(config, 'worker')).toContain(`image: ${image}`);
  });

  it('keeps worker and api scalable (no fixed name or host port) and Caddy in front on 443', () => {
    for (const role of ['api', 'worker']) {
      const block = serviceBlock(config, role);
      expect(block, role).not.toContain('container_name');
      expect(block, role).not.toContain('published');
    }
    const caddy = serviceBlock(config, 'caddy');
    expect(caddy).toMatch(/published: 443\n\s+target: 443/);
    expect(caddy).toContain('DOMAIN: notify.example.com');
    expect(caddy).toContain('Caddyfile:/etc/caddy/Caddyfile');
  });

  it('has every variable it needs in .env.example', async () => {
    const compose = await readFile(path.join(repo, 'deploy/docker-compose.yml'), 'utf8');
    const sample = await readFile(path.join(repo, 'deploy/.env.example'), 'utf8');
    const defined = new Set([...sample.matchAll(/^([A-Z_]+)=/gm)].map((m) => m[1]));
    const used = [...compose.matchAll(/\$\{([A-Z_]+)/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(5);
    expect([...new Set(used)].filter((v) => !defined.has(v))).toEqual([]);
  });
});

describe.skipIf(!required)('the image on the Docker engine', () => {
  let engine: DockerEngine | null = null;
  let context = '';
  let env: NodeJS.ProcessEnv = {};
  const dbName = `np_deploy_${process.pid}`;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    engine = await ensureDockerEngine({ ...instance, required: true });
    await ensureBaseImage(engine!);
    env = { ...process.env, DOCKER_HOST: `unix://${engine!.socketPath}`, DOCKER_BUILDKIT: '0' };
    context = await mkdtemp('/tmp/np-deploy-context-');
    await prepareOfflineContext(context);
    const t0 = Date.now();
    await run(
      'docker',
      [
        'build',
        '-q',
        '-f',
        path.join(repo, 'deploy/Dockerfile'),
        '--build-arg',
        `BUILD_IMAGE=${BASE_IMAGE}`,
        '--build-arg',
        `BASE_IMAGE=${BASE_IMAGE}`,
        '-t',
        image,
        context,
      ],
      { env, maxBuffer: 16 << 20, timeout: 300_000 },
    );
    timings.buildSeconds = (Date.now() - t0) / 1000;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`drop database if exists ${dbName}`);
    await admin.query(`create database ${dbName}`);
    await admin.end();
  }, 360_000);

  afterAll(async () => {
    const size = engine
      ? (
          await run('docker', ['image', 'inspect', image, '--format', '{{.Size}}'], { env }).catch(
            () => ({ stdout: '0' }),
          )
        ).stdout.trim()
      : '0';
    console.log(
      `[deploy] image ${Math.round(Number(size) / 1e6)} MB, build ${timings.buildSeconds ?? '?'} s, readyz ${timings.readySeconds ?? '?'} s, start ${timings.startSeconds ?? '?'} s`,
    );
    if (context) await rm(context, { recursive: true, force: true });
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
    if (engine) await stopDockerEngine({ ...instance, purge: true });
  }, 60_000);

  it('prints every role in --help', async () => {
    const { stdout } = await run(
      'docker',
      ['run', '--rm', '--pull', 'never', '--network', 'none', image, '--help'],
      { env },
    );
    for (const role of ['start', 'api', 'worker', 'bots', 'runner', 'migrate', 'export', 'import'])
      expect(stdout).toMatch(new RegExp(`^\\s+${role}\\b`, 'm'));
  });

  it('runs as the non-root user', async () => {
    const { stdout } = await run(
      'docker',
      [
        'image',
        'inspect',
        image,
        '--format',
        '{{.Config.User}} {{json .Config.Entrypoint}} {{json .Config.Cmd}}',
      ],
      { env },
    );
    expect(stdout.trim()).toBe('10001:10001 ["node","server/bin/notifypro.js"] ["start"]');
  });

  /** Runs the image once with a role and env; returns its exit code and output. */
  async function runRole(role: string, vars: Record<string, string> = {}) {
    const args = ['run', '--rm', '--pull', 'never', '--network', 'none'];
    for (const [k, v] of Object.entries(vars)) args.push('-e', `${k}=${v}`);
    try {
      const { stdout, stderr } = await run('docker', [...args, image, role], {
        env,
        timeout: 30_000,
      });
      return { code: 0, output: stdout + stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, output: e.stdout + e.stderr };
    }
  }

  it('holds the compiled server and the web app, not the sources', async () => {
    const { stdout } = await run(
      'docker',
      [
        'run',
        '--rm',
        '--pull',
        'never',
        '--network',
        'none',
        '--entrypoint',
        'node',
        image,
        '-e',
        "const f=require('fs');console.log(JSON.stringify(['server/dist/main.js','server/dist/runner/entry.js','server/dist/db/migrations','web/dist/index.html','server/src','web/src'].map(p=>f.existsSync(p))))",
      ],
      { env },
    );
    expect(JSON.parse(stdout)).toEqual([true, true, true, true, false, false]);
  });

  it('runner and bots start and stop with a clear configuration error when env is missing', async () => {
    const [runner, bots, noEngine, worker] = await Promise.all([
      runRole('runner'),
      runRole('bots'),
      runRole('bots', {
        SECRET_KEY: 'deploy-test-secret-key-0123456789abcdef',
        BOT_RUNNER: 'docker',
      }),
      runRole('worker'),
    ]);
    expect(runner.code).not.toBe(0);
    expect(runner.output).toContain('INTERNAL_API_URL: required');
    expect(runner.output).toContain('NOTIFYPRO_RUNNER_TOKEN');
    expect(bots.code).not.toBe(0);
    expect(bots.output).toContain('SECRET_KEY: required');
    expect(noEngine.code).not.toBe(0);
    expect(noEngine.output).toContain(
      'DOCKER_SOCKET: BOT_RUNNER=docker, but no Docker engine answers',
    );
    expect(worker.code).not.toBe(0);
    expect(worker.output).toContain('DATABASE_URL: required');
    // Said plainly: no stack trace.
    for (const r of [runner, bots, noEngine, worker]) expect(r.output).not.toMatch(/^\s+at /m);
  }, 60_000);

  it('serves /readyz from its api role against PostgreSQL', async () => {
    const port = await freePort();
    const name = `np-deploy-api-${process.pid}`;
    const t0 = Date.now();
    await run(
      'docker',
      [
        'run',
        '-d',
        '--init',
        '--pull',
        'never',
        '--network',
        'host',
        '--name',
        name,
        '-e',
        `PORT=${port}`,
        '-e',
        `DATABASE_URL=postgres://postgres@127.0.0.1:5432/${dbName}`,
        '-e',
        'SECRET_KEY=deploy-test-secret-key-0123456789abcdef',
        image,
        'api',
      ],
      { env },
    );
    try {
      expect(await readyWithin(port, name, env, t0 + 45_000)).toBe('ready');
      timings.readySeconds = (Date.now() - t0) / 1000;
      const spa = await fetch(`http://127.0.0.1:${port}/`);
      await spa.text();
      expect(spa.status).toBe(200);
      // A runner from the image reaches this api and ends on a refused credential
      // (exit 79, superseded: the supervisor would not restart it) instead of spinning.
      const runner = await run(
        'docker',
        [
          'run',
          '--rm',
          '--pull',
          'never',
          '--network',
          'host',
          '-e',
          `INTERNAL_API_URL=http://127.0.0.1:${port}`,
          '-e',
          'NOTIFYPRO_RUNNER_TOKEN=npr_not-a-real-runner-token',
          image,
          'runner',
        ],
        { env, timeout: 30_000 },
      ).then(
        () => ({ code: 0 }),
        (e: { code: number }) => e,
      );
      expect(runner.code).toBe(79);
    } finally {
      await run('docker', ['rm', '-f', name], { env }).catch(() => {});
    }
  }, 60_000);

  it('runs everything with the start role and its embedded PostgreSQL in /data, as uid 10001', async () => {
    const port = await freePort();
    const name = `np-deploy-start-${process.pid}`;
    await run(
      'docker',
      [
        'run',
        '-d',
        '--init',
        '--pull',
        'never',
        '--network',
        'host',
        '--name',
        name,
        '-e',
        `PORT=${port}`,
        image,
        'start',
      ],
      { env },
    );
    try {
      const t0 = Date.now();
      expect(await readyWithin(port, name, env, t0 + 60_000)).toBe('ready');
      timings.startSeconds = (Date.now() - t0) / 1000;
    } finally {
      await run('docker', ['rm', '-f', name], { env }).catch(() => {});
    }
  }, 90_000);
});
