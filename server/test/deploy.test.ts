/**
 * Deployment artefacts: the compose file validates, and the image (built offline here from
 * notifypro/node-base:local) prints its roles and serves /readyz against real PostgreSQL.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
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
 * The offline build context: the host's installed packages (hard links, minus dev-only
 * ones), the server sources (run through tsx, which is a runtime dependency) and web/dist.
 */
async function prepareOfflineContext(dir: string): Promise<void> {
  for (const f of ['package.json', 'package-lock.json'])
    await cp(path.join(repo, f), path.join(dir, f));
  await mkdir(path.join(dir, 'server'));
  for (const f of ['package.json', 'bin', 'src'])
    await cp(path.join(repo, 'server', f), path.join(dir, 'server', f), {
      recursive: true,
      filter: (s) => !s.endsWith('.test.ts'),
    });
  await mkdir(path.join(dir, 'web'));
  await cp(path.join(repo, 'web/package.json'), path.join(dir, 'web/package.json'));
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

describe('deploy/docker-compose.yml', () => {
  it('validates with docker-compose config and the sample env', async () => {
    const { stdout } = await run(
      'docker-compose',
      ['--env-file', 'deploy/.env.example', '-f', 'deploy/docker-compose.yml', 'config'],
      { cwd: repo },
    );
    for (const service of ['postgres:', 'api:', 'worker:', 'bots:', 'caddy:'])
      expect(stdout).toContain(service);
    expect(stdout).toContain('BOT_RUNNER: docker');
    expect(stdout).toContain('/var/run/docker.sock');
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
      { env, maxBuffer: 16 << 20, timeout: 120_000 },
    );
    timings.buildSeconds = (Date.now() - t0) / 1000;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`drop database if exists ${dbName}`);
    await admin.query(`create database ${dbName}`);
    await admin.end();
  }, 180_000);

  afterAll(async () => {
    const size = engine
      ? (
          await run('docker', ['image', 'inspect', image, '--format', '{{.Size}}'], { env }).catch(
            () => ({ stdout: '0' }),
          )
        ).stdout.trim()
      : '0';
    console.log(
      `[deploy] image ${Math.round(Number(size) / 1e6)} MB, build ${timings.buildSeconds ?? '?'} s, readyz ${timings.readySeconds ?? '?'} s`,
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
    for (const role of ['start', 'api', 'migrate'])
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

  it('serves /readyz from its api role against PostgreSQL', async () => {
    const port = await freePort();
    const name = `np-deploy-api-${process.pid}`;
    const t0 = Date.now();
    await run(
      'docker',
      [
        'run',
        '-d',
        '--rm',
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
      let body: { status?: string } = {};
      while (Date.now() - t0 < 45_000) {
        try {
          const res = await fetch(`http://127.0.0.1:${port}/readyz`);
          body = (await res.json()) as { status?: string };
          if (res.ok) break;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      timings.readySeconds = (Date.now() - t0) / 1000;
      if (body.status !== 'ready')
        console.log(
          (await run('docker', ['logs', name], { env }).catch((e) => e as { stdout: string }))
            .stdout,
        );
      expect(body.status).toBe('ready');
      const spa = await fetch(`http://127.0.0.1:${port}/`);
      await spa.text();
      expect(spa.status).toBe(200);
    } finally {
      await run('docker', ['rm', '-f', name], { env }).catch(() => {});
    }
  }, 60_000);
});
