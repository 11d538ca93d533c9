import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { decodeEncodedWords, MimeParseError, parseMail } from './mime.js';

const CRLF = '\r\n';

/** A single-part message whose body is `text` encoded in `charset`, sent as 8bit. */
function eightBit(charset: string, text: string, subjectWord?: string): Buffer {
  const head = [
    'From: =?utf-8?B?0JjQstCw0L0g0J/QtdGC0YDQvtCy?= <ivan@example.ru>',
    'To: ops@example.com',
    `Subject: ${subjectWord ?? 'plain'}`,
    'Message-ID: <m1@example.ru>',
    'Date: Tue, 02 Jan 2024 10:00:00 +0300',
    'MIME-Version: 1.0',
    `Content-Type: text/plain; charset=${charset}`,
    'Content-Transfer-Encoding: 8bit',
    '',
    '',
  ].join(CRLF);
  return Buffer.concat([
    Buffer.from(head, 'latin1'),
    iconv.encode(text, charset === 'x-unknown-thing' ? 'utf-8' : charset),
  ]);
}

function bEncoded(text: string, charset: string): string {
  return `=?${charset}?B?${iconv.encode(text, charset).toString('base64')}?=`;
}

describe('parseMail charsets', () => {
  it.each([
    ['windows-1251', 'Сервер упал: диск заполнен на 98%'],
    ['koi8-r', 'Привет из KOI8-R, ёлки'],
    ['gb2312', '服务器告警：磁盘已满'],
    ['iso-8859-1', 'Größe überschritten, café'],
  ])('decodes an 8-bit %s body and an encoded-word subject', async (charset, text) => {
    const mail = await parseMail(eightBit(charset, text + CRLF, bEncoded(text, charset)));
    expect(mail.text.trim()).toBe(text);
    expect(mail.subject).toBe(text);
    expect(mail.headers.subject).toBe(text);
    expect(mail.from).toEqual([{ address: 'ivan@example.ru', name: 'Иван Петров' }]);
    expect(mail.to).toEqual([{ address: 'ops@example.com', name: '' }]);
    expect(mail.messageId).toBe('<m1@example.ru>');
    expect(mail.date?.toISOString()).toBe('2024-01-02T07:00:00.000Z');
  });

  it('decodes quoted-printable windows-1251 and a Q-encoded koi8-r header', async () => {
    const body = iconv.encode('Тест QP', 'windows-1251');
    const qp = Array.from(body, (b) =>
      b > 127 ? `=${b.toString(16).toUpperCase()}` : String.fromCharCode(b),
    ).join('');
    const qWord = `=?koi8-r?Q?${Array.from(iconv.encode('Тема', 'koi8-r'), (b) => `=${b.toString(16).toUpperCase()}`).join('')}?=`;
    const raw = [
      'Subject: ' + qWord,
      'X-Note: ' + qWord + ' ' + qWord,
      'Content-Type: text/plain; charset="Windows-1251"',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      qp,
      '',
    ].join(CRLF);
    const mail = await parseMail(Buffer.from(raw, 'latin1'));
    expect(mail.subject).toBe('Тема');
    expect(mail.headers['x-note']).toBe('ТемаТема');
    expect(mail.text.trim()).toBe('Тест QP');
  });

  it('accepts charset spellings mail software writes (cp-1251, win-1251)', async () => {
    for (const label of ['cp-1251', 'win-1251', 'CP1251']) {
      const raw = Buffer.concat([
        Buffer.from(`Subject: x${CRLF}Content-Type: text/plain; charset=${label}${CRLF}${CRLF}`),
        iconv.encode('Ошибка', 'windows-1251'),
      ]);
      expect((await parseMail(raw)).text.trim(), label).toBe('Ошибка');
    }
  });

  it('decodes an unknown charset label as UTF-8 when the bytes are UTF-8', async () => {
    const mail = await parseMail(eightBit('x-unknown-thing', 'Всё хорошо'));
    expect(mail.text.trim()).toBe('Всё хорошо');
  });

  it('keeps an unknown charset label with 8-bit bytes readable as windows-1252 (no replacement characters)', async () => {
    const raw = Buffer.concat([
      Buffer.from(`Subject: x${CRLF}Content-Type: text/plain; charset=x-weird${CRLF}${CRLF}`),
      Buffer.from('caf\xe9 ok', 'latin1'),
    ]);
    const mail = await parseMail(raw);
    expect(mail.text.trim()).toBe('café ok');
  });

  it('decodes encoded words in any header, including split adjacent words', () => {
    expect(decodeEncodedWords('=?utf-8?Q?caf=C3=A9?= =?utf-8?Q?_au_lait?= done')).toBe(
      'café au lait done',
    );
    expect(decodeEncodedWords('=?utf-7?B?K0FEdy1zY3JpcHQrQUQ0LQ==?=')).toBe(
      '=?utf-7?B?K0FEdy1zY3JpcHQrQUQ0LQ==?=',
    );
  });
});

describe('parseMail structure', () => {
  const multipart = [
    'From: "Alerts" <alerts@example.com>',
    'To: "A" <a@example.com>, b@example.com',
    'Cc: Team: c@example.com, d@example.com;',
    'Reply-To: noreply@example.com',
    'Subject: Report',
    'X-Priority: 1',
    'X-Priority: 5',
    'X-Long: first',
    '  continued',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="outer"',
    '',
    '--outer',
    'Content-Type: multipart/related; boundary="rel"',
    '',
    '--rel',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<html><body><h1>Report</h1><p>All <b>good</b>.</p><img src="cid:logo@x"><script>x()</script></body></html>',
    '--rel',
    'Content-Type: image/png',
    'Content-ID: <logo@x>',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.from('PNGDATA').toString('base64'),
    '--rel--',
    '--outer',
    'Content-Type: application/pdf; name="report.pdf"',
    'Content-Disposition: attachment; filename="=?utf-8?B?0L7RgtGH0ZHRgi5wZGY=?="',
    'Content-Transfer-Encoding: base64',
    '',
    Buffer.alloc(3000, 1).toString('base64'),
    '--outer--',
    '',
  ].join(CRLF);

  it('returns addresses, first header values, HTML converted to text and attachments', async () => {
    const mail = await parseMail(Buffer.from(multipart), { maxAttachmentBytes: 1000 });
    expect(mail.from).toEqual([{ address: 'alerts@example.com', name: 'Alerts' }]);
    expect(mail.to.map((a) => a.address)).toEqual(['a@example.com', 'b@example.com']);
    expect(mail.cc.map((a) => a.address)).toEqual(['c@example.com', 'd@example.com']);
    expect(mail.replyTo).toEqual([{ address: 'noreply@example.com', name: '' }]);
    expect(mail.headers['x-priority']).toBe('1');
    expect(mail.headers['x-long']).toBe('first continued');
    expect(mail.text).toContain('REPORT');
    expect(mail.text).toContain('All good.');
    expect(mail.text).not.toContain('x()');
    expect(mail.html).toContain('<h1>Report</h1>');
    const logo = mail.attachments.find((a) => a.contentType === 'image/png');
    expect(logo).toMatchObject({ inline: true, contentId: 'logo@x', size: 7 });
    expect(logo?.content?.toString()).toBe('PNGDATA');
    const pdf = mail.attachments.find((a) => a.contentType === 'application/pdf');
    expect(pdf).toMatchObject({ filename: 'отчёт.pdf', size: 3000, inline: false });
    expect(pdf?.content).toBeUndefined();
    expect(mail.truncated).toBe(false);
  });

  it('cuts long text and says so', async () => {
    const raw = `Subject: long${CRLF}${CRLF}${'a'.repeat(5000)}${CRLF}`;
    const mail = await parseMail(Buffer.from(raw), { maxTextChars: 100 });
    expect(mail.text).toHaveLength(100);
    expect(mail.truncated).toBe(true);
  });
});

describe('parseMail on damaged input', () => {
  it('returns what it can from a message with a broken multipart and bad base64', async () => {
    const raw = [
      'Subject: broken',
      'From: someone',
      'Content-Type: multipart/mixed; boundary="zzz"',
      '',
      '--zzz',
      'Content-Type: text/plain',
      '',
      'part one',
      '--zzz',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment; filename="a.bin"',
      '',
      '@@@not base64!!!',
      // no closing boundary
    ].join(CRLF);
    const mail = await parseMail(Buffer.from(raw));
    expect(mail.subject).toBe('broken');
    expect(mail.text).toContain('part one');
    expect(mail.from).toEqual([{ address: '', name: 'someone' }]);
    expect(mail.date).toBeUndefined();
  });

  it('parses a bare LF message without a blank line', async () => {
    const mail = await parseMail(Buffer.from('Subject: only headers\nX-A: b'));
    expect(mail.subject).toBe('only headers');
    expect(mail.text).toBe('');
  });

  it('treats an invalid date as missing', async () => {
    const mail = await parseMail(Buffer.from(`Subject: d${CRLF}Date: not a date${CRLF}${CRLF}x`));
    expect(mail.date).toBeUndefined();
  });

  it.each([
    ['empty input', Buffer.alloc(0)],
    ['binary garbage', Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x02, 0x03, 0x0a, 0x0d, 0x00])],
  ])('throws MimeParseError only for %s', async (_name, raw) => {
    await expect(parseMail(raw)).rejects.toBeInstanceOf(MimeParseError);
  });
});
