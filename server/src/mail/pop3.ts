/**
 * POP3 adapter over node-pop3, with its known faults worked around:
 * - RETR() decodes as UTF-8 (8-bit mail breaks): RETR goes through `command()` and the
 *   stream is collected as bytes, dot-unstuffed here;
 * - it looks for the terminator only at the end of each chunk, so one split across two TCP
 *   reads hangs forever and a chunk that is just "." ends early: `_pushStream` is replaced by
 *   a scanner that carries the last bytes over;
 * - its `timeout` does not cover a stalled command: every call has its own deadline here;
 * - a socket error during a multi-line answer is emitted as 'error' with no listener (which
 *   kills the process) and a close then leaves the answer pending: both are handled here.
 * node-pop3 speaks implicit TLS (`tls: true`, port 995) but has no STLS (STARTTLS) support.
 */
import type { Readable } from 'node:stream';
import Pop3Command from 'node-pop3';
import { classifyNetworkError, MailConnectError, serverText } from './errors.js';
import type { MailSecurity } from './imap.js';
import { silentLogger, type MailLogger } from './logger.js';

export interface Pop3Settings {
  host: string;
  port: number;
  /** `tls` (995) or `none`; `starttls` is refused with code 'protocol' (node-pop3 has no STLS). */
  security: MailSecurity;
  username: string;
  password?: string;
  /** OAuth2 access token: AUTH XOAUTH2 instead of USER/PASS. */
  accessToken?: string;
  tlsRejectUnauthorized?: boolean;
  tlsCa?: string | string[];
  /** TLS SNI / certificate name when `host` is an address. */
  servername?: string;
  /** Connect + greeting + login. Default 30 s. */
  connectTimeoutMs?: number;
  /** Any later command (RETR of a large message included). Default 60 s. */
  commandTimeoutMs?: number;
}

export interface Pop3Session {
  /** UIDL: message numbers of this session with their unique ids. */
  listUidl(): Promise<Array<{ msgNo: number; uid: string }>>;
  /** The raw message, exactly as stored (8-bit safe, dot-unstuffed). */
  retrieve(msgNo: number): Promise<Buffer>;
  /** The message's size in octets (LIST n); NaN when the server's answer has none. */
  size(msgNo: number): Promise<number>;
  /** The header and the first `lines` lines of the body (TOP): for a message too big to read whole. */
  top(msgNo: number, lines: number): Promise<Buffer>;
  /** Marks for deletion; takes effect at `quit()`. */
  delete(msgNo: number): Promise<void>;
  /** QUIT (commits deletions) and closes. Never throws. */
  quit(): Promise<void>;
  readonly closed: boolean;
}

const TERMINATOR = Buffer.from('\r\n.\r\n');
const CRLF = Buffer.from('\r\n');

/** node-pop3 with a multi-line reader that finds the terminator across chunk boundaries. */
class SafePop3 extends Pop3Command {
  // the bytes not yet pushed: at most the last 4, which may start a terminator
  private held: Buffer = CRLF;
  // the CRLF that opens `held` at the start of an answer belongs to the status line
  private skip = 2;

  override _updateStream(): Readable {
    this.held = CRLF;
    this.skip = 2;
    return super._updateStream();
  }

  override _pushStream(chunk: Buffer): void {
    const stream = this._stream;
    if (!stream) return;
    const data = Buffer.concat([this.held, chunk]);
    const end = data.indexOf(TERMINATOR);
    if (end >= 0) {
      // the CRLF before "." ends the last line of the message
      if (end + 2 > this.skip) stream.push(data.subarray(this.skip, end + 2));
      this.held = CRLF;
      this._endStream();
      return;
    }
    const keep = Math.max(this.skip, data.length - 4);
    if (keep > this.skip) stream.push(data.subarray(this.skip, keep));
    this.held = data.subarray(keep);
    this.skip = 0;
  }
}

/** Removes the "." that POP3 puts before every line starting with ".". */
export function dotUnstuff(data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  let length = 0;
  let lineStart = true;
  for (const byte of data) {
    if (lineStart && byte === 0x2e) {
      lineStart = false;
      continue;
    }
    out[length++] = byte;
    lineStart = byte === 0x0a;
  }
  return out.subarray(0, length);
}

function collect(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('error', reject);
    stream.once('end', () => resolve(Buffer.concat(chunks)));
  });
}

function toPop3ConnectError(
  err: unknown,
  settings: Pop3Settings,
  phase: 'connect' | 'login' | 'session',
): MailConnectError {
  if (err instanceof MailConnectError) return err;
  const network = classifyNetworkError(err, settings.host, settings.port);
  if (network) return network;
  const e = err as Error & { eventName?: string };
  const where = `${settings.host}:${settings.port}`;
  if (e?.eventName === 'error' && phase === 'login') {
    return new MailConnectError(
      'auth',
      `The server refused the login: ${serverText(e.message)}. Check the user name and password (or app password).`,
      { cause: err },
    );
  }
  if (e?.eventName === 'close' || e?.eventName === 'end' || e?.message === 'no-socket') {
    return phase === 'session'
      ? new MailConnectError('closed', `The connection to ${where} was closed.`, { cause: err })
      : new MailConnectError(
          'protocol',
          `The server at ${where} closed the connection during set-up: is this a POP3 port with the right security setting?`,
          { cause: err },
        );
  }
  return new MailConnectError(
    'protocol',
    `POP3 error from ${where}: ${serverText(e?.message) || 'unexpected response'}.`,
    { cause: err },
  );
}

/** Connects and logs in. Throws MailConnectError. */
export async function openPop3Session(
  settings: Pop3Settings,
  log: MailLogger = silentLogger,
): Promise<Pop3Session> {
  if (settings.security === 'starttls') {
    throw new MailConnectError(
      'protocol',
      'POP3 with STARTTLS is not supported: use TLS (usually port 995).',
    );
  }
  const connectTimeout = settings.connectTimeoutMs ?? 30_000;
  const commandTimeout = settings.commandTimeoutMs ?? 60_000;
  const tlsOptions: { rejectUnauthorized: boolean; ca?: string | string[] } = {
    rejectUnauthorized: settings.tlsRejectUnauthorized ?? true,
  };
  if (settings.tlsCa) tlsOptions.ca = settings.tlsCa;
  const pop = new SafePop3({
    host: settings.host,
    port: settings.port,
    tls: settings.security === 'tls',
    user: settings.username,
    password: settings.password ?? '',
    tlsOptions,
    ...(settings.servername ? { servername: settings.servername } : {}),
  });

  let closed = false;
  let failCurrent: ((err: unknown) => void) | undefined;
  const shutDown = (reason: unknown): void => {
    if (!closed) {
      closed = true;
      pop._socket?.destroy();
    }
    failCurrent?.(reason);
  };
  // node-pop3 emits 'error' for -ERR answers (command() listens for those itself) and for
  // socket errors during a multi-line answer, which nobody would catch
  pop.on('error', (err: Error & { eventName?: string }) => {
    if (err.eventName !== 'error' || pop._stream) {
      log.warn({ err: { message: err.message } }, 'POP3 connection error');
      pop._stream?.destroy(err);
      shutDown(err);
    }
  });

  /** Runs one exchange with a deadline; a timeout or a dropped connection rejects it. */
  const guarded = <T>(
    work: () => Promise<T>,
    timeoutMs: number,
    phase: 'connect' | 'login' | 'session',
  ): Promise<T> => {
    if (closed)
      return Promise.reject(
        toPop3ConnectError(
          Object.assign(new Error('close'), { eventName: 'close' }),
          settings,
          phase,
        ),
      );
    return new Promise<T>((resolve, reject) => {
      const fail = (err: unknown): void => {
        clearTimeout(timer);
        failCurrent = undefined;
        reject(toPop3ConnectError(err, settings, phase));
      };
      failCurrent = fail;
      const timer = setTimeout(() => {
        const err = Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' });
        shutDown(err);
        fail(err);
      }, timeoutMs);
      work().then(
        (value) => {
          clearTimeout(timer);
          failCurrent = undefined;
          resolve(value);
        },
        (err: unknown) => {
          if (closed || pop._socket === null) shutDown(err);
          fail(err);
        },
      );
    });
  };

  const watchSocket = (): void => {
    pop._socket?.once('close', () => {
      const wasClosed = closed;
      closed = true;
      if (!wasClosed) failCurrent?.(Object.assign(new Error('close'), { eventName: 'close' }));
    });
  };

  const deadline = Date.now() + connectTimeout;
  const remaining = (): number => Math.max(1, deadline - Date.now());
  try {
    await guarded(() => pop.connect(), remaining(), 'connect');
    watchSocket();
    if (settings.accessToken) {
      const sasl = Buffer.from(
        `user=${settings.username}\x01auth=Bearer ${settings.accessToken}\x01\x01`,
      ).toString('base64');
      await guarded(() => pop.command('AUTH', 'XOAUTH2', sasl), remaining(), 'login');
      // a failed XOAUTH2 answers "+ <error>" (a continuation, which node-pop3 takes for +OK):
      // STAT only succeeds once logged in
      await guarded(() => pop.command('STAT'), remaining(), 'login');
    } else {
      await guarded(() => pop.command('USER', settings.username), remaining(), 'login');
      await guarded(() => pop.command('PASS', settings.password ?? ''), remaining(), 'login');
    }
  } catch (err) {
    shutDown(err);
    throw err;
  }

  // one exchange at a time: POP3 has no pipelining here
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => {});
    return next;
  };

  const multiLine = (...args: Array<string | number>): Promise<Buffer> =>
    serial(() =>
      guarded(
        async () => {
          const [, stream] = await pop.command(...args);
          if (!stream) throw new Error(`no multi-line answer to ${String(args[0])}`);
          return dotUnstuff(await collect(stream));
        },
        commandTimeout,
        'session',
      ),
    );

  const msgNumber = (msgNo: number): number => {
    if (!Number.isInteger(msgNo) || msgNo < 1)
      throw new RangeError(`invalid POP3 message number ${msgNo}`);
    return msgNo;
  };

  return {
    get closed() {
      return closed;
    },
    async listUidl() {
      const listing = (await multiLine('UIDL')).toString('latin1');
      const entries: Array<{ msgNo: number; uid: string }> = [];
      for (const line of listing.split('\r\n')) {
        const match = /^(\d+) +(\S+)/.exec(line);
        if (match) entries.push({ msgNo: Number(match[1]), uid: match[2]! });
      }
      return entries;
    },
    retrieve(msgNo) {
      return multiLine('RETR', msgNumber(msgNo));
    },
    async size(msgNo) {
      const n = msgNumber(msgNo);
      const [info] = (await serial(() =>
        guarded(() => pop.command('LIST', n), commandTimeout, 'session'),
      )) as [unknown, unknown];
      const match = /^\d+\s+(\d+)/.exec(String(info ?? '').trim());
      return match ? Number(match[1]) : NaN;
    },
    top(msgNo, lines) {
      return multiLine('TOP', msgNumber(msgNo), Math.max(0, Math.floor(lines)));
    },
    async delete(msgNo) {
      const n = msgNumber(msgNo);
      await serial(() => guarded(() => pop.command('DELE', n), commandTimeout, 'session'));
    },
    async quit() {
      if (closed) return;
      try {
        await serial(() => guarded(() => pop.command('QUIT'), 5_000, 'session'));
      } catch {
        // closing anyway
      } finally {
        closed = true;
        pop._socket?.end();
      }
    },
  };
}
