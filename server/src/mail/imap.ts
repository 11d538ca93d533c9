/**
 * IMAP adapter over imapflow: one connection with one selected folder, fetching by UID and
 * waiting for changes with IDLE (or NOOP polling where the server has no IDLE).
 */
import {
  ImapFlow,
  type FetchMessageObject,
  type FetchQueryObject,
  type ImapFlowError,
  type ImapFlowOptions,
} from 'imapflow';
import { classifyNetworkError, MailConnectError, serverText } from './errors.js';
import { silentLogger, type MailLogger } from './logger.js';

export type MailSecurity = 'tls' | 'starttls' | 'none';

export interface ImapSettings {
  /** Host name or IP address to connect to (see host-guard.ts for the checked address). */
  host: string;
  port: number;
  /** `tls`: implicit TLS (993); `starttls`: upgrade required; `none`: cleartext, never upgraded. */
  security: MailSecurity;
  username: string;
  password?: string;
  /** OAuth2 access token (XOAUTH2 / OAUTHBEARER), instead of `password`. */
  accessToken?: string;
  folder: string;
  /** Default true. */
  tlsRejectUnauthorized?: boolean;
  /** Extra trusted CA certificate(s), PEM (a self-hosted server with its own CA). */
  tlsCa?: string | string[];
  /** TLS SNI / certificate name when `host` is an address; defaults to `host`. */
  servername?: string;
  /** Budget for TCP + TLS + greeting + login + SELECT. Default 30 s. */
  connectTimeoutMs?: number;
}

export interface ImapMailboxState {
  /** UIDVALIDITY as a decimal string (imapflow has it as a bigint). */
  uidValidity: string;
  uidNext: number;
  exists: number;
}

export interface FetchedMessage {
  uid: number;
  raw: Buffer;
  /** The message's full size (RFC822.SIZE); larger than `raw.length` when cut at `maxBytes`. */
  size: number;
  truncated: boolean;
  internalDate?: Date;
  flags?: string[];
  /** How many more messages this fetch will yield after this one (0: the last, or expunged ones skipped). */
  remaining: number;
}

export type MailboxChange = 'exists' | 'expunge' | 'uidvalidity' | 'timeout' | 'closed';

export interface WaitForChangeOptions {
  /** Rejects with the signal's reason when aborted. */
  signal?: AbortSignal;
  /** Longest single IDLE (servers drop IDLE after 30 min; RFC 2177 says re-issue before 29). Default 25 min. */
  idleMaxMs?: number;
  /** NOOP interval when the server has no IDLE. Default 60 s. */
  pollMs?: number;
}

export interface ImapSession {
  /** The selected folder as it is now (updated by EXISTS and re-SELECT). */
  readonly mailbox: ImapMailboxState;
  readonly supportsIdle: boolean;
  /** True once the connection is gone; open a new session then. */
  readonly closed: boolean;
  /** Messages with UID > `lastUid`, in UID order, fetched in batches (BODY.PEEK: no \Seen). */
  fetchSince(lastUid: number, options?: { maxBytes?: number }): AsyncIterable<FetchedMessage>;
  /**
   * Resolves when the folder changes. A change that came while nobody waited (say during a
   * fetch) resolves the next call at once, so fetching after every resolution misses nothing.
   */
  waitForChange(options?: WaitForChangeOptions): Promise<MailboxChange>;
  markSeen(uid: number): Promise<void>;
  close(): Promise<void>;
}

const FETCH_BATCH = 20;
const CHANGE_PRIORITY: Record<'exists' | 'expunge' | 'uidvalidity', number> = {
  expunge: 1,
  exists: 2,
  uidvalidity: 3,
};

function imapLogger(log: MailLogger): NonNullable<ImapFlowOptions['logger']> {
  // imapflow logs every command at debug: keep that at trace
  return {
    trace: (obj: object) => log.trace({ imap: obj }),
    debug: (obj: object) => log.trace({ imap: obj }),
    info: (obj: object) => log.debug({ imap: obj }),
    warn: (obj: object) => log.warn({ imap: obj }),
    error: (obj: object) => log.warn({ imap: obj }),
  };
}

/** Maps an imapflow / socket error to a MailConnectError with a message for people. */
export function toImapConnectError(
  err: unknown,
  settings: Pick<ImapSettings, 'host' | 'port' | 'folder'>,
  phase: 'connect' | 'select' | 'session',
): MailConnectError {
  if (err instanceof MailConnectError) return err;
  const e = (err ?? {}) as ImapFlowError;
  const where = `${settings.host}:${settings.port}`;
  const responseText = serverText(typeof e.response === 'string' ? e.response : e.responseText);
  if (
    e.authenticationFailed ||
    e.serverResponseCode === 'AUTHENTICATIONFAILED' ||
    e.serverResponseCode === 'AUTHORIZATIONFAILED'
  ) {
    return new MailConnectError(
      'auth',
      `The server refused the login${responseText ? `: ${responseText}` : ''}. Check the user name and password (or app password).`,
      { cause: err },
    );
  }
  if (
    e.mailboxMissing ||
    e.serverResponseCode === 'NONEXISTENT' ||
    (phase === 'select' && /not exist|doesn't exist|unknown mailbox|no such/i.test(responseText))
  ) {
    return new MailConnectError(
      'folder_missing',
      `The folder "${settings.folder}" does not exist on the server.`,
      { cause: err },
    );
  }
  const network =
    classifyNetworkError(e._err ?? err, settings.host, settings.port) ??
    classifyNetworkError(err, settings.host, settings.port);
  if (network) return network;
  if (e.tlsFailed || e.code === 'STARTTLS_INJECTION' || e.code === 'ClosedAfterConnectTLS') {
    return new MailConnectError('tls', `TLS with ${where} failed: ${serverText(e.message)}.`, {
      cause: err,
    });
  }
  if (e.code === 'MissingServerExtension' && /STARTTLS/i.test(e.message)) {
    return new MailConnectError('tls', `The server at ${where} does not offer STARTTLS.`, {
      cause: err,
    });
  }
  if (
    e.code === 'NoConnection' ||
    e.code === 'EConnectionClosed' ||
    e.code === 'ClosedAfterConnectText'
  ) {
    return phase === 'connect'
      ? new MailConnectError(
          'protocol',
          `The server at ${where} closed the connection during set-up: is this an IMAP port with the right security setting?`,
          { cause: err },
        )
      : new MailConnectError(
          'closed',
          `The connection to ${where} was closed${e.reason ? `: ${serverText(e.reason)}` : ''}.`,
          { cause: err },
        );
  }
  if (phase === 'select' && e.responseStatus === 'NO') {
    return new MailConnectError(
      'folder_missing',
      `The folder "${settings.folder}" cannot be opened: ${responseText || e.message}.`,
      { cause: err },
    );
  }
  return new MailConnectError(
    'protocol',
    `IMAP error from ${where}: ${serverText(responseText || e.message) || 'unexpected response'}.`,
    { cause: err },
  );
}

/** Connects, logs in and selects `settings.folder`. Throws MailConnectError. */
export async function openImapSession(
  settings: ImapSettings,
  log: MailLogger = silentLogger,
): Promise<ImapSession> {
  const connectTimeout = settings.connectTimeoutMs ?? 30_000;
  const tls: NonNullable<ImapFlowOptions['tls']> = {
    rejectUnauthorized: settings.tlsRejectUnauthorized ?? true,
  };
  if (settings.tlsCa) tls.ca = settings.tlsCa;
  const client = new ImapFlow({
    host: settings.host,
    port: settings.port,
    secure: settings.security === 'tls',
    doSTARTTLS:
      settings.security === 'starttls' ? true : settings.security === 'none' ? false : undefined,
    servername: settings.servername,
    auth: settings.accessToken
      ? { user: settings.username, accessToken: settings.accessToken }
      : { user: settings.username, pass: settings.password ?? '' },
    tls,
    logger: imapLogger(log),
    disableAutoIdle: true, // waitForChange issues IDLE itself, so it controls when and how long
    connectionTimeout: connectTimeout,
    greetingTimeout: Math.min(16_000, connectTimeout),
    clientInfo: { name: 'NotifyPro' },
  });

  let closed = false;
  let lastError: unknown;
  let waiter: ((change: MailboxChange) => void) | undefined;
  let pending: 'exists' | 'expunge' | 'uidvalidity' | undefined;

  const signalChange = (change: MailboxChange): void => {
    if (waiter) {
      waiter(change);
      return;
    }
    if (change === 'exists' || change === 'expunge' || change === 'uidvalidity') {
      if (!pending || CHANGE_PRIORITY[change] > CHANGE_PRIORITY[pending]) pending = change;
    }
  };

  // An unhandled 'error' event would kill the process: record it; 'close' follows it.
  client.on('error', (err: Error) => {
    lastError = err;
    log.warn(
      { err: { message: err.message, code: (err as ImapFlowError).code } },
      'IMAP connection error',
    );
  });
  client.on('close', () => {
    closed = true;
    signalChange('closed');
  });

  const deadline = setTimeout(() => {
    lastError = Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' });
    client.close();
  }, connectTimeout);
  let selected: ImapMailboxState;
  try {
    try {
      await client.connect();
    } catch (err) {
      throw toImapConnectError(lastError ?? err, settings, 'connect');
    }
    try {
      const box = await client.mailboxOpen(settings.folder);
      selected = {
        uidValidity: box.uidValidity.toString(),
        uidNext: box.uidNext,
        exists: box.exists,
      };
    } catch (err) {
      throw toImapConnectError(lastError ?? err, settings, 'select');
    }
  } catch (err) {
    client.close();
    throw err;
  } finally {
    clearTimeout(deadline);
  }

  /*
   * How many messages can be above a cursor, without asking: no message in the folder has a
   * UID above `topUid` except ones the server announced (EXISTS) after `announcedAtTop`.
   * SELECT starts it at UIDNEXT - 1 and each UID FETCH n:* (which lists all of them) moves it.
   */
  let announced = 0;
  let topUid = selected.uidNext > 0 ? selected.uidNext - 1 : Number.POSITIVE_INFINITY;
  let announcedAtTop = 0;
  /** waitForChange returned a change the server announced in IDLE, and no fetch ran since. */
  let heardInIdle = false;

  let uidValidity = selected.uidValidity;
  client.on('exists', (info: { count: number; prevCount: number }) => {
    // imapflow counts EXPUNGEs down, so the growth is the number of messages added
    announced += Math.max(0, info.count - info.prevCount);
    signalChange('exists');
  });
  client.on('expunge', () => signalChange('expunge'));
  client.on('mailboxOpen', (box: { uidValidity: bigint; uidNext: number }) => {
    topUid = box.uidNext > 0 ? box.uidNext - 1 : Number.POSITIVE_INFINITY;
    announcedAtTop = announced;
    if (box.uidValidity.toString() !== uidValidity) {
      uidValidity = box.uidValidity.toString();
      signalChange('uidvalidity');
    }
  });

  const supportsIdle = client.capabilities.has('IDLE');
  /** The IDLE loop of the last waitForChange, while its IDLE is still on the wire. */
  let idleLoop: Promise<void> | undefined;

  const mailboxState = (): ImapMailboxState => {
    const box = client.mailbox;
    if (box && typeof box === 'object') {
      selected = {
        uidValidity: box.uidValidity.toString(),
        uidNext: box.uidNext,
        exists: box.exists,
      };
    }
    return selected;
  };

  const closedError = (): unknown =>
    lastError ??
    Object.assign(new Error('closed'), { code: 'NoConnection', reason: client.byeReason });
  const ensureOpen = (): void => {
    if (closed) throw toImapConnectError(closedError(), settings, 'session');
  };

  const run = async <T>(work: () => Promise<T>): Promise<T> => {
    ensureOpen();
    try {
      return await work();
    } catch (err) {
      throw toImapConnectError(closed ? closedError() : err, settings, 'session');
    }
  };

  function toFetched(m: FetchMessageObject, source: Buffer, remaining: number): FetchedMessage {
    const size = m.size ?? source.length;
    const message: FetchedMessage = {
      uid: m.uid,
      raw: source,
      size,
      truncated: source.length < size,
      remaining,
    };
    if (m.internalDate) message.internalDate = new Date(m.internalDate);
    // \Recent is per-session noise (and gone in IMAP4rev2)
    if (m.flags) message.flags = [...m.flags].filter((f) => f !== '\\Recent');
    return message;
  }

  async function* fetchSince(
    lastUid: number,
    options: { maxBytes?: number } = {},
  ): AsyncGenerator<FetchedMessage> {
    // Dovecot (and others) only take in new mail at a syncing command, not at UID FETCH: a
    // NOOP first makes sure mail that arrived without an announcement is seen. Not needed
    // right after a change heard in IDLE: the server synced to announce it, and mail after
    // that is announced when the next IDLE starts (Dovecot syncs then). The UID FETCH below
    // ends the IDLE itself (DONE).
    const skipNoop = heardInIdle;
    heardInIdle = false;
    if (!skipNoop) await run(() => client.noop());
    // changes from here on (even during this fetch) stay pending for the next waitForChange
    if (pending !== 'uidvalidity') pending = undefined;
    lastUid = Math.max(0, Math.floor(lastUid));
    const from = lastUid + 1;
    const source: FetchQueryObject['source'] = options.maxBytes
      ? { maxLength: options.maxBytes }
      : true;
    const meta: FetchQueryObject = { uid: true, size: true, flags: true, internalDate: true };
    // at most this many messages are above lastUid (see topUid)
    const atMost = lastUid >= topUid ? announced - announcedAtTop : Number.POSITIVE_INFINITY;
    const announcedBefore = announced;
    // "n:*" also matches the highest UID when it is below n: filter
    const listed = (all: FetchMessageObject[]): FetchMessageObject[] => {
      const fresh = all.filter((m) => m.uid > lastUid).sort((a, b) => a.uid - b.uid);
      topUid = Math.max(lastUid, fresh.at(-1)?.uid ?? 0);
      announcedAtTop = announcedBefore;
      return fresh;
    };

    if (atMost >= 1 && atMost <= FETCH_BATCH) {
      // a few new messages (the latency path): metadata and bodies in one UID FETCH
      const fresh = listed(
        await run(() => client.fetchAll(`${from}:*`, { ...meta, source }, { uid: true })),
      );
      const withBody = fresh.filter((m) => m.source); // expunged in between: no body
      for (const [i, m] of withBody.entries())
        yield toFetched(m, m.source!, withBody.length - i - 1);
      return;
    }

    // a backlog (or nothing announced): the list first, then the bodies in batches, so a
    // mailbox with 10,000 waiting messages is never read into memory at once
    const fresh = listed(await run(() => client.fetchAll(`${from}:*`, meta, { uid: true })));
    for (let i = 0; i < fresh.length; i += FETCH_BATCH) {
      const batch = fresh.slice(i, i + FETCH_BATCH);
      const bodies = await run(() =>
        client.fetchAll(batch.map((m) => m.uid).join(','), { uid: true, source }, { uid: true }),
      );
      const byUid = new Map<number, FetchMessageObject>(bodies.map((b) => [b.uid, b]));
      for (const [j, m] of batch.entries()) {
        const body = byUid.get(m.uid);
        if (!body?.source) continue; // expunged in between
        yield toFetched(m, body.source, fresh.length - (i + j) - 1);
      }
    }
  }

  async function waitForChange(options: WaitForChangeOptions = {}): Promise<MailboxChange> {
    const { signal } = options;
    signal?.throwIfAborted();
    if (closed) return 'closed';
    if (waiter) throw new Error('waitForChange is already waiting');
    const takePending = (): MailboxChange | undefined => {
      const change = pending;
      pending = undefined;
      // announced while a command ran (the server synced then): the next fetch needs no NOOP
      if (supportsIdle && (change === 'exists' || change === 'expunge')) heardInIdle = true;
      return change;
    };
    if (pending) return takePending()!;
    if (idleLoop) {
      // the last change was heard in IDLE but no command followed to end it: end it now, so
      // this call starts its own (and times its re-issue) — the NOOP also syncs
      await client.noop().catch((err: unknown) => {
        lastError ??= err;
      });
      await idleLoop;
      if (closed) return 'closed';
      if (pending) return takePending()!;
    }
    const idleMaxMs = options.idleMaxMs ?? 25 * 60_000;
    const pollMs = options.pollMs ?? 60_000;

    return new Promise<MailboxChange>((resolve, reject) => {
      let done = false;
      let pollTimer: NodeJS.Timeout | undefined;
      const finish = (outcome: MailboxChange | { error: unknown }): void => {
        if (done) return;
        done = true;
        waiter = undefined;
        clearTimeout(maxTimer);
        clearTimeout(pollTimer);
        signal?.removeEventListener('abort', onAbort);
        if (supportsIdle) {
          // after a change the caller fetches at once: its UID FETCH ends IDLE (DONE), one
          // round trip instead of DONE, NOOP and the fetch's own NOOP
          if (outcome === 'exists' || outcome === 'expunge') heardInIdle = true;
          else breakIdle();
        }
        if (typeof outcome === 'object') reject(outcome.error);
        else resolve(outcome);
      };
      const onAbort = (): void => finish({ error: signal?.reason });
      // IDLE ends with the next command; a NOOP both ends it and checks the connection
      const breakIdle = (): void => {
        if (!closed) {
          client.noop().catch((err: unknown) => {
            lastError ??= err;
          });
        }
      };
      waiter = (change) => finish(change);
      signal?.addEventListener('abort', onAbort, { once: true });
      const maxTimer = setTimeout(() => finish(closed ? 'closed' : 'timeout'), idleMaxMs);

      if (supportsIdle) {
        const loop = (async () => {
          // imapflow ends IDLE on its own (socket-timeout keepalive NOOP): re-issue until done
          while (!done && !closed) {
            const started = Date.now();
            try {
              await client.idle();
            } catch (err) {
              lastError ??= err;
              if (closed) return finish('closed');
            }
            // a refused IDLE returns at once: do not spin
            if (!done && Date.now() - started < 100) await new Promise((r) => setTimeout(r, 1_000));
          }
          if (closed) finish('closed');
        })();
        idleLoop = loop;
        void loop.finally(() => {
          if (idleLoop === loop) idleLoop = undefined;
        });
      } else {
        const poll = (): void => {
          pollTimer = setTimeout(() => {
            client.noop().then(
              () => {
                if (!done) poll();
              },
              () => finish('closed'),
            );
          }, pollMs);
        };
        poll();
      }
    });
  }

  return {
    get mailbox() {
      return mailboxState();
    },
    supportsIdle,
    get closed() {
      return closed;
    },
    fetchSince,
    waitForChange,
    async markSeen(uid: number) {
      await run(() => client.messageFlagsAdd(String(uid), ['\\Seen'], { uid: true }));
    },
    async close() {
      if (closed) return;
      const timer = setTimeout(() => client.close(), 5_000);
      try {
        await client.logout();
      } catch {
        client.close();
      } finally {
        clearTimeout(timer);
        closed = true;
      }
    },
  };
}
