import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDovecot, type DovecotServer } from '../../test/dovecot.js';
import { MailConnectError } from './errors.js';
import type { MailLogger } from './logger.js';
import {
  openImapSession,
  type FetchedMessage,
  type ImapSession,
  type ImapSettings,
} from './imap.js';

const execFileAsync = promisify(execFile);
let dovecot: DovecotServer;
const sessions: ImapSession[] = [];
let userSeq = 0;

function message(subject: string, body = 'hello'): string {
  return `From: alerts@example.com\r\nTo: ops@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@t>\r\n\r\n${body}\r\n`;
}

/** A fresh user per test, so tests do not see each other's mail. */
async function newUser(): Promise<{ user: string; settings: ImapSettings }> {
  const user = `u${++userSeq}`;
  await dovecot.addUser(user, 'pw');
  return {
    user,
    settings: {
      host: dovecot.host,
      port: dovecot.imapPort,
      security: 'none',
      username: user,
      password: 'pw',
      folder: 'INBOX',
    },
  };
}

async function open(settings: ImapSettings, log?: MailLogger): Promise<ImapSession> {
  const session = await openImapSession(settings, log);
  sessions.push(session);
  return session;
}

/** The commands imapflow sends (from its log), without tags or arguments: "UID FETCH", "DONE". */
function commandLog(): { log: MailLogger; commands: string[] } {
  const commands: string[] = [];
  const record = (obj: object): void => {
    const line = (obj as { imap?: { src?: string; msg?: unknown } }).imap;
    if (line?.src !== 'c' || typeof line.msg !== 'string') return;
    if (line.msg === 'DONE') commands.push('DONE');
    const m = /^\S+ (UID \S+|\S+)/.exec(line.msg);
    if (m && line.msg !== 'DONE') commands.push(m[1]!);
  };
  const log: MailLogger = { trace: record, debug: record, info: record, warn() {}, error() {} };
  return { log, commands };
}

async function connectError(settings: ImapSettings): Promise<MailConnectError> {
  const err = await openImapSession(settings).then(
    async (s) => {
      await s.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MailConnectError);
  return err as MailConnectError;
}

async function collect(iterable: AsyncIterable<FetchedMessage>): Promise<FetchedMessage[]> {
  const out: FetchedMessage[] = [];
  for await (const m of iterable) out.push(m);
  return out;
}

async function expungeUid(user: string, uid: number): Promise<void> {
  await execFileAsync('doveadm', [
    '-c',
    dovecot.confPath,
    'expunge',
    '-u',
    user,
    'mailbox',
    'INBOX',
    'uid',
    String(uid),
  ]);
}

const subjects = (messages: FetchedMessage[]): string[] =>
  messages.map((m) => /Subject: (.*)\r\n/.exec(m.raw.toString())?.[1] ?? '?');

beforeAll(async () => {
  dovecot = await startDovecot();
});

afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close().catch(() => {})));
});

afterAll(async () => {
  await dovecot?.destroy();
});

describe('openImapSession', () => {
  it('connects over plain, STARTTLS and implicit TLS and reports the folder state', async () => {
    const { user, settings } = await newUser();
    await dovecot.append(user, message('one'));
    const status = await dovecot.mailboxStatus(user);
    const variants: ImapSettings[] = [
      settings,
      { ...settings, security: 'starttls', tlsRejectUnauthorized: false },
      { ...settings, security: 'tls', port: dovecot.imapsPort!, tlsRejectUnauthorized: false },
    ];
    for (const variant of variants) {
      const session = await open(variant);
      expect(session.mailbox, variant.security).toEqual({
        uidValidity: String(status.uidValidity),
        uidNext: 2,
        exists: 1,
      });
      expect(session.supportsIdle).toBe(true);
    }
    const log = await dovecot.readLog();
    expect(log).toMatch(/imap-login: Info: Login: user=<u\d+>.*TLS/);
  });

  it('verifies the certificate against servername when connecting to an address', async () => {
    const { settings } = await newUser();
    const tls: ImapSettings = { ...settings, security: 'tls', port: dovecot.imapsPort! };
    expect((await connectError(tls)).code).toBe('tls');
    expect((await connectError(tls)).message).toContain('self-signed');
    const trusted = await open({ ...tls, tlsCa: dovecot.certPem, servername: 'localhost' });
    expect(trusted.mailbox.exists).toBe(0);
    const wrongName = await connectError({
      ...tls,
      tlsCa: dovecot.certPem,
      servername: 'mail.example.com',
    });
    expect(wrongName.code).toBe('tls');
    expect(wrongName.message).toContain('different host name');
  });

  it("maps a wrong password to 'auth'", async () => {
    const { settings } = await newUser();
    const err = await connectError({ ...settings, password: 'wrong' });
    expect(err.code).toBe('auth');
    expect(err.message).toMatch(/refused the login/);
  });

  it("maps a closed port to 'refused'", async () => {
    const { settings } = await newUser();
    const err = await connectError({ ...settings, port: 1 });
    expect(err.code).toBe('refused');
    expect(err.message).toContain('127.0.0.1:1');
  });

  it("maps a missing folder to 'folder_missing' and opens one that exists", async () => {
    const { user, settings } = await newUser();
    const err = await connectError({ ...settings, folder: 'Alerts' });
    expect(err.code).toBe('folder_missing');
    expect(err.message).toContain('"Alerts"');
    await dovecot.append(user, message('in alerts'), 'Alerts');
    const session = await open({ ...settings, folder: 'Alerts' });
    expect(subjects(await collect(session.fetchSince(0)))).toEqual(['in alerts']);
  });

  it("maps plain IMAP against the TLS port to 'timeout' within connectTimeoutMs", async () => {
    const { settings } = await newUser();
    const started = Date.now();
    const err = await connectError({
      ...settings,
      port: dovecot.imapsPort!,
      connectTimeoutMs: 1_500,
    });
    expect(err.code).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('ImapSession.fetchSince', () => {
  it('returns only messages above lastUid, with size, flags and date', async () => {
    const { user, settings } = await newUser();
    await dovecot.append(user, message('first'));
    await dovecot.append(user, message('second'));
    const session = await open(settings);
    const all = await collect(session.fetchSince(0));
    expect(subjects(all)).toEqual(['first', 'second']);
    expect(all.map((m) => m.uid)).toEqual([1, 2]);
    expect(all[0]).toMatchObject({ size: all[0]!.raw.length, truncated: false, flags: [] });
    expect(all[0]!.internalDate).toBeInstanceOf(Date);

    // "3:*" matches UID 2 on the server when nothing is above it: must come back empty
    expect(await collect(session.fetchSince(2))).toEqual([]);
    expect(await collect(session.fetchSince(5))).toEqual([]);

    await dovecot.append(user, message('third'));
    expect(subjects(await collect(session.fetchSince(2)))).toEqual(['third']);
  });

  it('cuts messages at maxBytes and says so', async () => {
    const { user, settings } = await newUser();
    await dovecot.append(user, message('big', 'x'.repeat(10_000)));
    const session = await open(settings);
    const [big] = await collect(session.fetchSince(0, { maxBytes: 1_000 }));
    expect(big!.raw.length).toBe(1_000);
    expect(big!.size).toBeGreaterThan(10_000);
    expect(big!.truncated).toBe(true);
  });

  it('fetches without setting \\Seen, and markSeen sets it', async () => {
    const { user, settings } = await newUser();
    await dovecot.append(user, message('peek'));
    const session = await open(settings);
    await collect(session.fetchSince(0));
    expect((await collect(session.fetchSince(0)))[0]!.flags).toEqual([]);
    await session.markSeen(1);
    expect((await collect(session.fetchSince(0)))[0]!.flags).toEqual(['\\Seen']);
  });

  it('fetches a few new messages in one UID FETCH, a backlog as a list and then batches', async () => {
    const { user, settings } = await newUser();
    const { log, commands } = commandLog();
    await dovecot.append(user, message('old'));
    const session = await open(settings, log);
    const command = (name: string) => commands.filter((c) => c === name).length;

    // the cursor below what SELECT saw: the list first, then the bodies
    commands.length = 0;
    expect(subjects(await collect(session.fetchSince(0)))).toEqual(['old']);
    expect(commands).toEqual(['NOOP', 'UID FETCH', 'UID FETCH']);

    // three announced (by the NOOP) above the cursor: one UID FETCH with the bodies
    for (const s of ['n1', 'n2', 'n3']) await dovecot.append(user, message(s, 'y'.repeat(5_000)));
    commands.length = 0;
    const few = await collect(session.fetchSince(1, { maxBytes: 1_000 }));
    expect(commands).toEqual(['NOOP', 'UID FETCH']);
    expect(subjects(few)).toEqual(['n1', 'n2', 'n3']);
    expect(few.map((m) => [m.uid, m.remaining, m.truncated, m.raw.length])).toEqual([
      [2, 2, true, 1_000],
      [3, 1, true, 1_000],
      [4, 0, true, 1_000],
    ]);
    expect(few[0]!.size).toBeGreaterThan(5_000);
    expect(few[0]!.flags).toEqual([]); // \Recent left out
    expect(few[0]!.internalDate).toBeInstanceOf(Date);

    // nothing new: the list only
    commands.length = 0;
    expect(await collect(session.fetchSince(4))).toEqual([]);
    expect(commands).toEqual(['NOOP', 'UID FETCH']);

    // 25 announced at once: too many to read in one go
    for (let i = 1; i <= 25; i++) await dovecot.append(user, message(`b${i}`));
    commands.length = 0;
    const backlog = await collect(session.fetchSince(4));
    expect(backlog.map((m) => m.uid)).toEqual(Array.from({ length: 25 }, (_, i) => i + 5));
    expect(backlog.map((m) => m.remaining).slice(-2)).toEqual([1, 0]);
    expect(commands).toEqual(['NOOP', 'UID FETCH', 'UID FETCH', 'UID FETCH']);
    expect(command('UID FETCH')).toBe(3);

    // the cursor behind what this session fetched (a caller that stopped early): the list first
    await dovecot.append(user, message('after'));
    commands.length = 0;
    expect(subjects(await collect(session.fetchSince(27)))).toEqual(['b24', 'b25', 'after']);
    expect(commands).toEqual(['NOOP', 'UID FETCH', 'UID FETCH']);
  });

  it('fetches more messages than one batch, in UID order', async () => {
    const { user, settings } = await newUser();
    for (let i = 1; i <= 45; i++) await dovecot.append(user, message(`m${i}`));
    const session = await open(settings);
    const all = await collect(session.fetchSince(3));
    expect(all.map((m) => m.uid)).toEqual(Array.from({ length: 42 }, (_, i) => i + 4));
  });
});

describe('ImapSession.waitForChange', () => {
  it("resolves 'exists' over IDLE when a message arrives", async () => {
    const { user, settings } = await newUser();
    const session = await open(settings);
    const started = Date.now();
    const change = session.waitForChange({ idleMaxMs: 10_000 });
    setTimeout(() => void dovecot.append(user, message('pushed')), 200);
    expect(await change).toBe('exists');
    // Dovecot announces new mail about 0.5 s after it arrives
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(subjects(await collect(session.fetchSince(0)))).toEqual(['pushed']);
    expect(session.mailbox.exists).toBe(1);
  });

  it('fetches a mail heard in IDLE with DONE and one UID FETCH, no NOOP', async () => {
    const { user, settings } = await newUser();
    const { log, commands } = commandLog();
    const session = await open(settings, log);
    expect(await collect(session.fetchSince(0))).toEqual([]);
    for (const [i, subject] of ['first', 'second'].entries()) {
      commands.length = 0;
      const change = session.waitForChange({ idleMaxMs: 10_000 });
      setTimeout(() => void dovecot.append(user, message(subject, 'z'.repeat(3_000))), 100);
      expect(await change).toBe('exists');
      const [got, ...rest] = await collect(session.fetchSince(i, { maxBytes: 2_000 }));
      expect(rest).toEqual([]);
      expect(subjects([got!])).toEqual([subject]);
      expect(got).toMatchObject({ uid: i + 1, truncated: true, remaining: 0, flags: [] });
      expect(got!.size).toBeGreaterThan(3_000);
      // before: IDLE, DONE, NOOP (to end IDLE), NOOP (fetchSince), UID FETCH ×2
      expect(commands).toEqual(['IDLE', 'DONE', 'UID FETCH']);
    }
    // nothing heard (a timeout): the NOOP is back, IDLE is ended by one
    commands.length = 0;
    expect(await session.waitForChange({ idleMaxMs: 300 })).toBe('timeout');
    expect(await collect(session.fetchSince(2))).toEqual([]);
    expect(commands).toEqual(['IDLE', 'DONE', 'NOOP', 'NOOP', 'UID FETCH']);
  });

  it('waits again after a heard change that no command followed', async () => {
    const { user, settings } = await newUser();
    const { log, commands } = commandLog();
    const session = await open(settings, log);
    const first = session.waitForChange({ idleMaxMs: 10_000 });
    await dovecot.append(user, message('a'));
    expect(await first).toBe('exists');
    // its IDLE is still on: the next call ends it and waits with its own
    commands.length = 0;
    const second = session.waitForChange({ idleMaxMs: 10_000 });
    setTimeout(() => void dovecot.append(user, message('b')), 300);
    expect(await second).toBe('exists');
    expect(commands).toEqual(['DONE', 'NOOP', 'IDLE']);
    expect(subjects(await collect(session.fetchSince(0)))).toEqual(['a', 'b']);
    expect(await session.waitForChange({ idleMaxMs: 300 })).toBe('timeout');
  });

  it('leaves out a message expunged after its announcement, and fetches after an expunge heard in IDLE', async () => {
    const { user, settings } = await newUser();
    const { log, commands } = commandLog();
    const session = await open(settings, log);
    expect(await collect(session.fetchSince(0))).toEqual([]);
    await dovecot.append(user, message('a'));
    await dovecot.append(user, message('b'));
    // IDLE starts with a sync: both announced
    expect(await session.waitForChange({ idleMaxMs: 10_000 })).toBe('exists');
    await expungeUid(user, 1);
    commands.length = 0;
    const fetched = await collect(session.fetchSince(0));
    expect(commands).toEqual(['DONE', 'UID FETCH']); // the one-fetch path
    expect(subjects(fetched)).toEqual(['b']);
    expect(fetched[0]!.remaining).toBe(0);

    // the expunge of a may still be pending: wait for c
    const waitFor = async (wanted: string): Promise<string[]> => {
      const seen: string[] = [];
      while (seen.length < 3 && !seen.includes(wanted))
        seen.push(await session.waitForChange({ idleMaxMs: 3_000 }));
      return seen;
    };
    await dovecot.append(user, message('c'));
    expect(await waitFor('exists')).toContain('exists');
    expect(subjects(await collect(session.fetchSince(2)))).toEqual(['c']);
    const expunged = waitFor('expunge');
    await expungeUid(user, 2);
    expect(await expunged).toContain('expunge');
    expect(subjects(await collect(session.fetchSince(0)))).toEqual(['c']);
    expect(session.mailbox.exists).toBe(1);
  });

  it('keeps a change that came while nobody waited for the next call', async () => {
    const { user, settings } = await newUser();
    const session = await open(settings);
    const first = session.waitForChange({ idleMaxMs: 10_000 });
    await dovecot.append(user, message('a'));
    expect(await first).toBe('exists');
    await collect(session.fetchSince(0));
    // arrives while the caller is busy (not waiting): IDLE is off, the NOOP below sees it
    await dovecot.append(user, message('b'));
    await new Promise((r) => setTimeout(r, 1_000));
    const second = await session.waitForChange({ idleMaxMs: 3_000 });
    expect(second).toBe('exists');
    expect(subjects(await collect(session.fetchSince(1)))).toEqual(['b']);
  });

  it("resolves 'timeout' after idleMaxMs and can IDLE again", async () => {
    const { user, settings } = await newUser();
    const session = await open(settings);
    expect(await session.waitForChange({ idleMaxMs: 300 })).toBe('timeout');
    const next = session.waitForChange({ idleMaxMs: 10_000 });
    await dovecot.append(user, message('after timeout'));
    expect(await next).toBe('exists');
  });

  it('rejects with the abort reason when the signal aborts', async () => {
    const { settings } = await newUser();
    const session = await open(settings);
    const controller = new AbortController();
    const waiting = session.waitForChange({ signal: controller.signal });
    setTimeout(() => controller.abort(new Error('shutting down')), 100);
    await expect(waiting).rejects.toThrow('shutting down');
    expect(await collect(session.fetchSince(0))).toEqual([]); // still usable
  });

  it('polls with NOOP when the server does not offer IDLE', async () => {
    const noIdle = await startDovecot({
      ssl: false,
      users: { polly: 'pw' },
      extraConfig: 'imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS',
    });
    try {
      const session = await open({
        host: noIdle.host,
        port: noIdle.imapPort,
        security: 'none',
        username: 'polly',
        password: 'pw',
        folder: 'INBOX',
      });
      expect(session.supportsIdle).toBe(false);
      const change = session.waitForChange({ pollMs: 300, idleMaxMs: 10_000 });
      await noIdle.append('polly', message('polled'));
      expect(await change).toBe('exists');
      expect(subjects(await collect(session.fetchSince(0)))).toEqual(['polled']);
    } finally {
      await noIdle.destroy();
    }
  });
});

describe('server restarts and UIDVALIDITY', () => {
  it("reports 'closed' when Dovecot dies, and a new session catches up after it is back", async () => {
    const restartable = await startDovecot({ users: { rita: 'pw' } });
    try {
      const settings: ImapSettings = {
        host: restartable.host,
        port: restartable.imapPort,
        security: 'none',
        username: 'rita',
        password: 'pw',
        folder: 'INBOX',
      };
      await restartable.append('rita', message('before'));
      const session = await open(settings);
      const [before] = await collect(session.fetchSince(0));
      const waiting = session.waitForChange({ idleMaxMs: 10_000 });
      await restartable.stop();
      expect(await waiting).toBe('closed');
      expect(session.closed).toBe(true);
      await expect(collect(session.fetchSince(0))).rejects.toMatchObject({ code: 'closed' });
      expect((await connectError(settings)).code).toBe('refused');

      await restartable.start();
      await restartable.append('rita', message('while away'));
      const again = await open(settings);
      expect(again.mailbox.uidValidity).toBe(session.mailbox.uidValidity);
      expect(subjects(await collect(again.fetchSince(before!.uid)))).toEqual(['while away']);
    } finally {
      await restartable.destroy();
    }
  });

  it('shows a new UIDVALIDITY after the folder was reset, with the old mail still there', async () => {
    const { user, settings } = await newUser();
    await dovecot.append(user, message('old one'));
    await dovecot.append(user, message('old two'));
    const session = await open(settings);
    const oldValidity = session.mailbox.uidValidity;
    const newValidity = await dovecot.resetUidValidity(user);
    // Dovecot notices at the session's next command and then drops it ("IMAP session state is
    // inconsistent, please relogin"); an IDLE already running is not woken by the reset
    let change = await session.waitForChange({ idleMaxMs: 1_000 });
    if (change === 'timeout') change = await session.waitForChange({ idleMaxMs: 1_000 });
    expect(['uidvalidity', 'closed']).toContain(change);
    const closedErr = await collect(session.fetchSince(0)).catch((e: unknown) => e);
    expect(closedErr).toMatchObject({
      code: 'closed',
      message: expect.stringContaining('relogin'),
    });

    const reopened = await open(settings);
    expect(reopened.mailbox.uidValidity).toBe(String(newValidity));
    expect(reopened.mailbox.uidValidity).not.toBe(oldValidity);
    expect(subjects(await collect(reopened.fetchSince(0)))).toEqual(['old one', 'old two']);
  });
});
