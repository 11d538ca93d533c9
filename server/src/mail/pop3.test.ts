import iconv from 'iconv-lite';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDovecot, type DovecotServer } from '../../test/dovecot.js';
import { startOAuth2Provider, type OAuth2Provider } from '../../test/oauth2-provider.js';
import { MailConnectError } from './errors.js';
import { parseMail } from './mime.js';
import { dotUnstuff, openPop3Session, type Pop3Settings } from './pop3.js';

let dovecot: DovecotServer;
let provider: OAuth2Provider;
let settings: Pop3Settings;

const cyrillic = 'Сбой резервного копирования: диск D заполнен';
const rawCp1251 = Buffer.concat([
  Buffer.from(
    'From: backup@example.ru\r\nTo: ops@example.ru\r\nSubject: =?windows-1251?B?' +
      iconv.encode('Резервная копия', 'windows-1251').toString('base64') +
      '?=\r\nContent-Type: text/plain; charset=windows-1251\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
  ),
  iconv.encode(
    `${cyrillic}\r\n.точка в начале строки\r\n..две точки\r\n.\r\nпосле одинокой точки\r\n`,
    'windows-1251',
  ),
]);

async function connectError(s: Pop3Settings): Promise<MailConnectError> {
  const err = await openPop3Session(s).then(
    async (session) => {
      await session.quit();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MailConnectError);
  return err as MailConnectError;
}

beforeAll(async () => {
  provider = await startOAuth2Provider('pat');
  dovecot = await startDovecot({
    users: { pat: 'pw', empty: 'pw', del: 'pw' },
    oauth2: { introspectionUrl: provider.introspectionUrl },
  });
  settings = {
    host: dovecot.host,
    port: dovecot.pop3Port,
    security: 'none',
    username: 'pat',
    password: 'pw',
  };
  await dovecot.append('pat', rawCp1251);
  await dovecot.append('pat', `Subject: big\r\n\r\n${'0123456789abcdef\r\n'.repeat(40_000)}`);
});

afterAll(async () => {
  await dovecot?.destroy();
  await provider?.close();
});

describe('openPop3Session', () => {
  it('lists UIDL and retrieves an 8-bit windows-1251 message byte for byte', async () => {
    const session = await openPop3Session(settings);
    const list = await session.listUidl();
    expect(list.map((e) => e.msgNo)).toEqual([1, 2]);
    expect(new Set(list.map((e) => e.uid)).size).toBe(2);
    const raw = await session.retrieve(1);
    expect(raw.equals(rawCp1251)).toBe(true);
    const mail = await parseMail(raw);
    expect(mail.subject).toBe('Резервная копия');
    expect(mail.text).toContain(cyrillic);
    expect(mail.text).toContain('\n.точка в начале строки\n..две точки\n.\nпосле');
    await session.quit();
    expect(session.closed).toBe(true);
  });

  it('retrieves a 720 kB message split over many TCP reads', async () => {
    const session = await openPop3Session(settings);
    const raw = await session.retrieve(2);
    expect(raw.length).toBe(
      Buffer.byteLength(`Subject: big\r\n\r\n${'0123456789abcdef\r\n'.repeat(40_000)}`),
    );
    expect(raw.subarray(-20).toString()).toBe('\r\n0123456789abcdef\r\n');
    await session.quit();
  });

  it('keeps UIDs stable across sessions and deletes at QUIT', async () => {
    await dovecot.append('del', 'Subject: a\r\n\r\na\r\n');
    await dovecot.append('del', 'Subject: b\r\n\r\nb\r\n');
    const s = { ...settings, username: 'del' };
    const first = await openPop3Session(s);
    const before = await first.listUidl();
    await first.delete(1);
    await first.quit();
    const second = await openPop3Session(s);
    const after = await second.listUidl();
    expect(after).toEqual([{ msgNo: 1, uid: before[1]!.uid }]);
    expect((await second.retrieve(1)).toString()).toContain('Subject: b');
    await second.quit();
  });

  it('lists an empty mailbox', async () => {
    const session = await openPop3Session({ ...settings, username: 'empty' });
    expect(await session.listUidl()).toEqual([]);
    await session.quit();
  });

  it('speaks implicit TLS and verifies the certificate name', async () => {
    const tls: Pop3Settings = { ...settings, port: dovecot.pop3sPort!, security: 'tls' };
    const session = await openPop3Session({ ...tls, tlsRejectUnauthorized: false });
    expect((await session.listUidl()).length).toBe(2);
    await session.quit();
    expect((await connectError(tls)).code).toBe('tls');
    const trusted = await openPop3Session({
      ...tls,
      tlsCa: dovecot.certPem,
      servername: 'localhost',
    });
    await trusted.quit();
    expect(
      (await connectError({ ...tls, tlsCa: dovecot.certPem, servername: 'pop.example.com' })).code,
    ).toBe('tls');
  });

  it("logs in with AUTH XOAUTH2 and an access token; a refused token is 'auth'", async () => {
    provider.active.set('token-pat', 'pat');
    const { password: _, ...oauth } = settings;
    const session = await openPop3Session({ ...oauth, accessToken: 'token-pat' });
    expect((await session.listUidl()).map((e) => e.msgNo)).toEqual([1, 2]);
    expect((await session.retrieve(1)).equals(rawCp1251)).toBe(true);
    await session.quit();
    expect(await dovecot.readLog()).toMatch(/pop3-login: Info: Login: user=<pat>, method=XOAUTH2/);

    const refused = await connectError({ ...oauth, accessToken: 'not-issued' });
    expect(refused.code).toBe('auth');
    // a token of another user is no way into this mailbox
    provider.active.set('token-del', 'del');
    expect((await connectError({ ...oauth, accessToken: 'token-del' })).code).toBe('auth');
  });

  it("maps failures to 'auth', 'refused', 'timeout' and refuses STARTTLS", async () => {
    expect((await connectError({ ...settings, password: 'nope' })).code).toBe('auth');
    expect((await connectError({ ...settings, port: 1 })).code).toBe('refused');
    expect(
      (await connectError({ ...settings, port: dovecot.pop3sPort!, connectTimeoutMs: 800 })).code,
    ).toBe('timeout');
    const starttls = await connectError({ ...settings, security: 'starttls' });
    expect(starttls.code).toBe('protocol');
    expect(starttls.message).toContain('995');
  });

  it("fails the pending call with 'closed' when the server goes away", async () => {
    const own = await startDovecot({ ssl: false, users: { x: 'pw' } });
    try {
      await own.append('x', 'Subject: x\r\n\r\nx\r\n');
      const session = await openPop3Session({ ...settings, port: own.pop3Port, username: 'x' });
      await own.stop();
      await expect(session.retrieve(1)).rejects.toMatchObject({ code: 'closed' });
      expect(session.closed).toBe(true);
      await session.quit(); // does not throw
    } finally {
      await own.destroy();
    }
  });
});

describe('POP3 framing against a server that splits its answers', () => {
  // A real TCP server that writes the answer in the chunks given, with pauses between them so
  // that each arrives as its own read: the terminator split across reads hung node-pop3.
  async function withChunkedServer(
    chunks: string[],
    run: (port: number) => Promise<void>,
  ): Promise<void> {
    const server = net.createServer((socket) => {
      socket.write('+OK ready\r\n');
      socket.on('data', async (data) => {
        const command = data.toString().trim().split(' ')[0];
        if (command === 'RETR') {
          for (const chunk of chunks) {
            socket.write(chunk);
            await new Promise((r) => setTimeout(r, 30));
          }
        } else if (command === 'QUIT') {
          socket.end('+OK bye\r\n');
        } else {
          socket.write('+OK\r\n');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      await run((server.address() as net.AddressInfo).port);
    } finally {
      server.close();
    }
  }

  it.each([
    ['terminator split after CR LF', ['+OK 10 octets\r\nline one\r\n', '.\r\n']],
    ['terminator split after the dot', ['+OK\r\nline one\r\n.', '\r\n']],
    ['a chunk that is only a stuffed dot', ['+OK\r\nline one\r\n', '.', '.dot line\r\n.\r\n']],
    ['status line alone, body later', ['+OK\r\n', 'line one\r\n.\r\n']],
  ])('reads the whole answer when the %s', async (_name, chunks) => {
    await withChunkedServer(chunks, async (port) => {
      const session = await openPop3Session({
        host: '127.0.0.1',
        port,
        security: 'none',
        username: 'u',
        password: 'p',
        commandTimeoutMs: 2_000,
      });
      const raw = await session.retrieve(1);
      const expected = chunks
        .join('')
        .replace(/^\+OK[^\r]*\r\n/, '')
        .replace(/\r\n\.\r\n$/, '\r\n');
      expect(raw.toString()).toBe(dotUnstuff(Buffer.from(expected)).toString());
      await session.quit();
    });
  });

  it("times out a stalled answer with 'timeout'", async () => {
    await withChunkedServer(['+OK\r\npartial line'], async (port) => {
      const session = await openPop3Session({
        host: '127.0.0.1',
        port,
        security: 'none',
        username: 'u',
        password: 'p',
        commandTimeoutMs: 500,
      });
      await expect(session.retrieve(1)).rejects.toMatchObject({ code: 'timeout' });
      expect(session.closed).toBe(true);
    });
  });
});

describe('dotUnstuff', () => {
  it('removes one leading dot per line only', () => {
    expect(dotUnstuff(Buffer.from('..a\r\nb.\r\n...c\r\n.')).toString()).toBe(
      '.a\r\nb.\r\n..c\r\n',
    );
  });
});
