/**
 * A private, real Dovecot (IMAP + POP3) per call, for tests: its own directory under /tmp,
 * its own config, free loopback ports, started as `dovecot -F -c CONF` in its own process
 * group. Needs root and the Debian packages from scripts/ensure-test-services.sh.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const DIR_PREFIX = 'np-dovecot-';
const CERT_DIR = path.join(tmpdir(), 'np-dovecot-cert');
const NOBODY_UID = 65534;
const NOGROUP_GID = 65534;

export interface DovecotOptions {
  /** `ssl = yes` (default): STARTTLS offered on the plain ports, and the implicit-TLS ports. */
  ssl?: boolean;
  /** Users to create before start, as `{name: password}`. */
  users?: Record<string, string>;
  /** Extra config lines appended to dovecot.conf (e.g. `imap_capability = ...`). */
  extraConfig?: string;
  /**
   * XOAUTH2 and OAUTHBEARER logins (IMAP and POP3) checked by Dovecot's oauth2 passdb against
   * this introspection endpoint (see test/oauth2-provider.ts); password logins still work.
   */
  oauth2?: { introspectionUrl: string };
}

export interface DovecotServer {
  host: '127.0.0.1';
  imapPort: number;
  /** Implicit TLS; `undefined` when started with `ssl: false`. */
  imapsPort: number | undefined;
  pop3Port: number;
  /** Implicit TLS; `undefined` when started with `ssl: false`. */
  pop3sPort: number | undefined;
  dir: string;
  confPath: string;
  logPath: string;
  /** The self-signed certificate (CN=localhost) the TLS ports present. */
  certPem: string;
  addUser(user: string, password: string): Promise<void>;
  /** Stores a message in the user's folder (created if missing) without touching IMAP. */
  append(user: string, raw: string | Buffer, folder?: string): Promise<void>;
  createFolder(user: string, folder: string): Promise<void>;
  /** `{uidValidity, uidNext, messages}` as Dovecot itself reports them. */
  mailboxStatus(
    user: string,
    folder?: string,
  ): Promise<{ uidValidity: number; uidNext: number; messages: number }>;
  /** Gives the folder a new, larger UIDVALIDITY; the mail in it stays. Returns the new value. */
  resetUidValidity(user: string, folder?: string): Promise<number>;
  /** SIGKILLs the process group: connections drop at once, data stays. */
  stop(): Promise<void>;
  /** Starts again on the same ports and data (after `stop()`). */
  start(): Promise<void>;
  /** Stops and deletes the directory. */
  destroy(): Promise<void>;
  /** The log so far (read it when a login succeeds and the mail process then fails). */
  readLog(): Promise<string>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) killGroup(child);
  });
}

/** Kills and removes instances left behind by test processes that died without their exit hook. */
function reapOrphans(): void {
  let entries: string[];
  try {
    entries = readdirSync(tmpdir()).filter(
      (name) => name.startsWith(DIR_PREFIX) && name !== 'np-dovecot-cert',
    );
  } catch {
    return;
  }
  for (const name of entries) {
    const dir = path.join(tmpdir(), name);
    try {
      const owner = Number(readFileSync(path.join(dir, 'owner.pid'), 'utf8'));
      if (owner && isAlive(owner)) continue;
      const masterPid = Number(readFileSync(path.join(dir, 'run', 'master.pid'), 'utf8').trim());
      if (masterPid && isAlive(masterPid)) {
        try {
          process.kill(-masterPid, 'SIGKILL');
        } catch {
          process.kill(masterPid, 'SIGKILL');
        }
      }
    } catch {
      // no owner or pid file: skip unless clearly abandoned
      if (!existsSync(path.join(dir, 'owner.pid'))) continue;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The self-signed certificate, made once per machine and shared by every instance. */
async function ensureCertificate(): Promise<{ cert: string; key: string }> {
  const cert = path.join(CERT_DIR, 'cert.pem');
  const key = path.join(CERT_DIR, 'key.pem');
  if (existsSync(cert) && existsSync(key)) return { cert, key };
  await mkdir(CERT_DIR, { recursive: true, mode: 0o755 });
  const tmp = await mkdtemp(path.join(CERT_DIR, 'gen-'));
  try {
    await execFileAsync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '3650',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      path.join(tmp, 'key.pem'),
      '-out',
      path.join(tmp, 'cert.pem'),
    ]);
    // key first: a reader that sees cert.pem then finds key.pem too (parallel test files)
    await rename(path.join(tmp, 'key.pem'), key);
    await rename(path.join(tmp, 'cert.pem'), cert);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { cert, key };
}

/**
 * A free loopback port BELOW the kernel's ephemeral range: a port from that range can be
 * handed to an outgoing connection while Dovecot is stopped, and a client connecting to
 * 127.0.0.1:P from local port P connects to itself (TCP simultaneous open) and hangs.
 */
async function freePort(): Promise<number> {
  let low = 32768;
  try {
    low =
      Number(
        readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
      ) || low;
  } catch {
    // not Linux: keep the default
  }
  const from = 10_000;
  const to = Math.max(from + 1000, low - 1);
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from));
    const server = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      return port;
    }
  }
  throw new Error('no free port found for Dovecot');
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

interface Ports {
  imap: number;
  imaps: number | undefined;
  pop3: number;
  pop3s: number | undefined;
}

function renderConfig(
  dir: string,
  ports: Ports,
  cert: { cert: string; key: string },
  opts: DovecotOptions,
): string {
  const ssl = opts.ssl !== false;
  const listener = (name: string, port: number, tls = false): string =>
    `  inet_listener ${name} {\n    address = 127.0.0.1\n    port = ${port}\n${tls ? '    ssl = yes\n' : ''}  }\n`;
  return [
    `base_dir = ${dir}/run`,
    `state_dir = ${dir}/state`,
    `instance_name = ${path.basename(dir)}`,
    'protocols = imap pop3',
    'listen = 127.0.0.1',
    `log_path = ${dir}/dovecot.log`,
    'default_internal_user = dovecot',
    'default_login_user = dovenull',
    'disable_plaintext_auth = no',
    'auth_failure_delay = 0', // tests of wrong passwords need not wait 2 s
    // no auth penalty (a growing delay of the next logins from an IP after a failed one): the
    // auth process turns it off when it cannot reach anvil's penalty socket
    'service anvil {',
    '  unix_listener anvil-auth-penalty {',
    '    mode = 0',
    '  }',
    '}',
    opts.oauth2
      ? 'auth_mechanisms = plain login xoauth2 oauthbearer'
      : 'auth_mechanisms = plain login',
    ssl ? 'ssl = yes' : 'ssl = no',
    ...(ssl
      ? [
          `ssl_cert = <${cert.cert}`,
          `ssl_key = <${cert.key}`,
          'ssl_dh = </usr/share/dovecot/dh.pem',
        ]
      : []),
    'passdb {',
    '  driver = passwd-file',
    // one file per user: a new file is read at once, while edits to one shared file are only
    // noticed after Dovecot's stat interval (a user added just now would fail to log in)
    `  args = scheme=PLAIN username_format=%u ${dir}/users/%u`,
    '}',
    ...(opts.oauth2
      ? [
          'passdb {',
          '  driver = oauth2',
          '  mechanisms = xoauth2 oauthbearer',
          `  args = ${dir}/oauth2.conf`,
          '}',
        ]
      : []),
    'userdb {',
    '  driver = static',
    `  args = uid=nobody gid=nogroup home=${dir}/mail/%u`,
    '}',
    'mail_location = maildir:~/Maildir',
    'namespace inbox {',
    '  inbox = yes',
    '}',
    // the mail processes must not wait for the default 30 s stat interval when inotify is missed
    'mailbox_idle_check_interval = 1 secs',
    'service imap-login {',
    listener('imap', ports.imap) + (ports.imaps ? listener('imaps', ports.imaps, true) : '') + '}',
    'service pop3-login {',
    listener('pop3', ports.pop3) + (ports.pop3s ? listener('pop3s', ports.pop3s, true) : '') + '}',
    'protocol imap {',
    '  mail_max_userip_connections = 50',
    '}',
    'protocol pop3 {',
    '  pop3_uidl_format = %08Xu%08Xv',
    '}',
    opts.extraConfig ?? '',
    '',
  ].join('\n');
}

/** Starts a private Dovecot; resolves once every port accepts connections. */
export async function startDovecot(opts: DovecotOptions = {}): Promise<DovecotServer> {
  installExitHook();
  reapOrphans();
  const ssl = opts.ssl !== false;
  const cert = await ensureCertificate();
  const certPem = await readFile(cert.cert, 'utf8');

  const dir = await mkdtemp(path.join(tmpdir(), DIR_PREFIX));
  await chmod(dir, 0o755);
  await writeFile(path.join(dir, 'owner.pid'), String(process.pid));
  for (const sub of ['run', 'state']) await mkdir(path.join(dir, sub));
  await mkdir(path.join(dir, 'mail'), { mode: 0o755 });
  await chown(path.join(dir, 'mail'), NOBODY_UID, NOGROUP_GID);
  const usersDir = path.join(dir, 'users');
  await mkdir(usersDir, { mode: 0o755 });
  const confPath = path.join(dir, 'dovecot.conf');
  const logPath = path.join(dir, 'dovecot.log');
  if (opts.oauth2) {
    await writeFile(
      path.join(dir, 'oauth2.conf'),
      [
        'introspection_mode = auth',
        `introspection_url = ${opts.oauth2.introspectionUrl}`,
        'force_introspection = yes',
        'username_attribute = username',
        'active_attribute = active',
        'active_value = yes',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
  }

  let child: ChildProcess | undefined;
  let ports: Ports = { imap: 0, imaps: undefined, pop3: 0, pop3s: undefined };

  const doveadm = async (args: string[], input?: string | Buffer): Promise<string> => {
    const proc = execFile('doveadm', ['-c', confPath, ...args], {
      encoding: 'buffer',
      maxBuffer: 16 << 20,
    });
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    proc.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    proc.stderr?.on('data', (chunk: Buffer) => errOut.push(chunk));
    proc.stdin?.on('error', () => {});
    proc.stdin?.end(input ?? '');
    const [code] = (await once(proc, 'close')) as [number | null];
    if (code !== 0) {
      throw new Error(
        `doveadm ${args.join(' ')} failed (${code}): ${Buffer.concat(errOut).toString()}`,
      );
    }
    return Buffer.concat(out).toString();
  };

  const launch = async (): Promise<void> => {
    const proc = spawn('dovecot', ['-F', '-c', confPath], {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    (proc.stderr as net.Socket | null)?.unref();
    proc.unref();
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
    child = proc;
    const wanted = [ports.imap, ports.imaps, ports.pop3, ports.pop3s].filter(
      (p): p is number => p !== undefined,
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        const log = existsSync(logPath) ? await readFile(logPath, 'utf8') : '';
        throw new Error(
          `dovecot exited at start (${proc.exitCode ?? proc.signalCode}): ${stderr}\n${log.slice(-2000)}`,
        );
      }
      const ready = await Promise.all(wanted.map(canConnect));
      if (ready.every(Boolean)) return;
      if (Date.now() > deadline) {
        killGroup(proc);
        throw new Error(`dovecot did not open its ports in 10 s: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  // Ports are picked free and handed over; another process may take one in between, so retry.
  for (let attempt = 1; ; attempt++) {
    const picked = new Set<number>();
    while (picked.size < 4) picked.add(await freePort());
    const [imap, imaps, pop3, pop3s] = [...picked] as [number, number, number, number];
    ports = { imap, imaps: ssl ? imaps : undefined, pop3, pop3s: ssl ? pop3s : undefined };
    await writeFile(confPath, renderConfig(dir, ports, cert, opts));
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 3) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }

  const stop = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc) return;
    killGroup(proc);
    // the child is unref'd, so waiting on its 'exit' event would not keep the loop alive
    const pid = proc.pid;
    for (
      let i = 0;
      i < 500 && proc.exitCode === null && proc.signalCode === null && pid && isAlive(pid);
      i++
    ) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    running.delete(proc);
    // master.pid left behind makes the next start refuse ("already running"): it checks the pid
    await rm(path.join(dir, 'run', 'master.pid'), { force: true });
  };

  const assertUserName = (user: string): void => {
    if (!/^[A-Za-z0-9._@+-]+$/.test(user)) throw new Error(`unsupported test user name: ${user}`);
  };

  const server: DovecotServer = {
    host: '127.0.0.1',
    get imapPort() {
      return ports.imap;
    },
    get imapsPort() {
      return ports.imaps;
    },
    get pop3Port() {
      return ports.pop3;
    },
    get pop3sPort() {
      return ports.pop3s;
    },
    dir,
    confPath,
    logPath,
    certPem,
    async addUser(user, password) {
      assertUserName(user);
      if (/[:\r\n]/.test(password))
        throw new Error('test passwords must not contain ":" or newlines');
      if (existsSync(path.join(usersDir, user)))
        throw new Error(`test user ${user} exists already`);
      await writeFile(path.join(usersDir, user), `${user}:{PLAIN}${password}\n`, { mode: 0o644 });
    },
    async append(user, raw, folder = 'INBOX') {
      assertUserName(user);
      if (folder !== 'INBOX') await server.createFolder(user, folder);
      await doveadm(
        ['save', '-u', user, '-m', folder],
        typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw,
      );
    },
    async createFolder(user, folder) {
      assertUserName(user);
      const list = await doveadm(['mailbox', 'list', '-u', user]);
      if (list.split('\n').includes(folder)) return;
      await doveadm(['mailbox', 'create', '-u', user, folder]);
    },
    async mailboxStatus(user, folder = 'INBOX') {
      assertUserName(user);
      const out = await doveadm([
        '-f',
        'flow',
        'mailbox',
        'status',
        '-u',
        user,
        'uidvalidity uidnext messages',
        folder,
      ]);
      const field = (name: string): number =>
        Number(new RegExp(`${name}=(\\d+)`).exec(out)?.[1] ?? NaN);
      return {
        uidValidity: field('uidvalidity'),
        uidNext: field('uidnext'),
        messages: field('messages'),
      };
    },
    async resetUidValidity(user, folder = 'INBOX') {
      const before = await server.mailboxStatus(user, folder);
      const next = Math.max(before.uidValidity + 1, Math.floor(Date.now() / 1000));
      await doveadm(['mailbox', 'update', '-u', user, '--uid-validity', String(next), folder]);
      const after = await server.mailboxStatus(user, folder);
      if (after.uidValidity === before.uidValidity || after.messages !== before.messages) {
        throw new Error(`UIDVALIDITY reset did not take: ${JSON.stringify({ before, after })}`);
      }
      return after.uidValidity;
    },
    stop,
    async start() {
      if (child) return;
      await launch();
    },
    async destroy() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    readLog: () => readFile(logPath, 'utf8').catch(() => ''),
  };

  for (const [user, password] of Object.entries(opts.users ?? {}))
    await server.addUser(user, password);
  return server;
}
