/**
 * MIME parsing (mailparser) into a plain, typed object the rest of NotifyPro uses. Never
 * throws for a damaged message: it returns what it could read, and `MimeParseError` only
 * when there is nothing usable at all.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { TextDecoder } from 'node:util';
import {
  simpleParser,
  type AddressObject,
  type EmailAddress,
  type ParsedMail as MailparserMail,
} from 'mailparser';

export interface MailAddress {
  address: string;
  name: string;
}

export interface MailAttachment {
  filename: string | undefined;
  contentType: string;
  /** Decoded size in bytes. */
  size: number;
  /** Only when `size` is within `maxAttachmentBytes`. */
  content?: Buffer;
  /** Without angle brackets. */
  contentId?: string;
  /** Shown in the body (inline disposition or a `cid:`-referenced part), not a separate file. */
  inline: boolean;
}

export interface ParsedMail {
  messageId?: string;
  subject: string;
  from: MailAddress[];
  to: MailAddress[];
  cc: MailAddress[];
  replyTo: MailAddress[];
  date?: Date;
  /** Lower-case names, the first occurrence, unfolded, encoded words decoded. */
  headers: Record<string, string>;
  /** Plain text; for HTML-only mail the HTML converted to text. */
  text: string;
  html?: string;
  attachments: MailAttachment[];
  /** `text` or `html` was cut at the limits. */
  truncated: boolean;
}

export interface ParseMailOptions {
  /** Default 100 000 characters. */
  maxTextChars?: number;
  /** Default 1 000 000 characters. */
  maxHtmlChars?: number;
  /** Attachments larger than this come without `content`. Default 20 MB. */
  maxAttachmentBytes?: number;
}

export class MimeParseError extends Error {
  override readonly name = 'MimeParseError';
}

const DEFAULT_MAX_TEXT = 100_000;
const DEFAULT_MAX_HTML = 1_000_000;
const DEFAULT_MAX_ATTACHMENT = 20 * 1024 * 1024;
// html-to-text is slow on huge documents; beyond this the text comes from a cut copy
const MAX_HTML_TO_CONVERT = 2_000_000;

/** A decoder for a MIME charset label, with the aliases mail software writes in practice. */
function decoderFor(label: string): TextDecoder | undefined {
  const attempts = [label.trim()];
  const compact = label.toLowerCase().replace(/[^a-z0-9]/g, '');
  const windows = /^(?:cp|win|windows|xcp|mscp)(12\d\d|874|936|949|950)$/.exec(compact);
  if (windows) attempts.push(`windows-${windows[1]}`);
  const iso = /^iso8859(\d{1,2})$/.exec(compact);
  if (iso) attempts.push(`iso-8859-${iso[1]}`);
  const koi = /^koi8([ru])?$/.exec(compact);
  if (koi) attempts.push(koi[1] === 'u' ? 'koi8-u' : 'koi8-r');
  if (compact === 'cp866' || compact === 'ibm866' || compact === 'dos866') attempts.push('ibm866');
  if (compact === 'gb2312' || compact === 'gb231280' || compact === 'euccn' || compact === 'xgbk')
    attempts.push('gbk');
  for (const attempt of attempts) {
    try {
      return new TextDecoder(attempt);
    } catch {
      // unknown label, try the next spelling
    }
  }
  return undefined;
}

/** Decodes bytes in `label`; unknown labels: UTF-8 when the bytes are valid UTF-8, else windows-1252. */
export function decodeCharset(bytes: Uint8Array, label: string | undefined): string {
  const decoder = label ? decoderFor(label) : undefined;
  if (decoder) return decoder.decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

/**
 * mailparser's hook for body charsets (shaped like node-iconv): used so that labels libmime
 * does not know get the best-effort fallback instead of UTF-8 with replacement characters.
 */
class BestEffortIconv extends Transform {
  private readonly chunks: Buffer[] = [];
  constructor(private readonly charset: string) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.chunks.push(chunk);
    done();
  }
  override _flush(done: TransformCallback): void {
    done(null, Buffer.from(decodeCharset(Buffer.concat(this.chunks), this.charset), 'utf8'));
  }
}

/** RFC 2047 encoded words (`=?charset?B|Q?...?=`), adjacent ones joined. */
export function decodeEncodedWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(
      /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g,
      (whole, charsetSpec: string, encoding: string, text: string) => {
        const charset = charsetSpec.split('*')[0] ?? charsetSpec; // RFC 2231 language suffix
        let bytes: Buffer;
        if (encoding.toUpperCase() === 'B') {
          bytes = Buffer.from(text, 'base64');
        } else {
          const qp = text.replace(/_/g, ' ');
          const out: number[] = [];
          for (let i = 0; i < qp.length; i++) {
            const hex = qp.slice(i + 1, i + 3);
            if (qp[i] === '=' && /^[0-9a-fA-F]{2}$/.test(hex)) {
              out.push(parseInt(hex, 16));
              i += 2;
            } else {
              out.push(qp.charCodeAt(i) & 0xff);
            }
          }
          bytes = Buffer.from(out);
        }
        if (
          /^(?:(?:cs)?unicode11)?utf7(?:imap)?$/.test(
            charset.toLowerCase().replace(/[^a-z0-9]/g, ''),
          )
        )
          return whole;
        return decodeCharset(bytes, charset);
      },
    );
}

function addresses(value: AddressObject | AddressObject[] | undefined): MailAddress[] {
  const list: MailAddress[] = [];
  const walk = (entries: EmailAddress[]): void => {
    for (const entry of entries) {
      if (entry.group) walk(entry.group);
      else if (entry.address || entry.name)
        list.push({ address: entry.address ?? '', name: entry.name ?? '' });
    }
  };
  for (const object of Array.isArray(value) ? value : value ? [value] : [])
    walk(object.value ?? []);
  return list;
}

function headerRecord(lines: MailparserMail['headerLines']): Record<string, string> {
  const record: Record<string, string> = {};
  for (const { key, line } of lines ?? []) {
    if (!key || key in record || !/^[\x21-\x39\x3b-\x7e]+$/.test(key)) continue;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const raw = line
      .slice(colon + 1)
      .replace(/\r?\n[ \t]+/g, ' ')
      .trim();
    record[key] = decodeEncodedWords(raw);
  }
  return record;
}

function cut(value: string, max: number): { value: string; cut: boolean } {
  if (value.length <= max) return { value, cut: false };
  // do not split a surrogate pair
  let end = max;
  const code = value.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return { value: value.slice(0, end), cut: true };
}

async function runParser(raw: Buffer): Promise<MailparserMail> {
  return simpleParser(raw, {
    Iconv: BestEffortIconv,
    maxHtmlLengthToParse: MAX_HTML_TO_CONVERT,
    skipTextToHtml: true,
    skipImageLinks: true,
    keepCidLinks: true,
    checksumAlgo: false,
  });
}

/** Parses a raw RFC 5322 message. */
export async function parseMail(raw: Buffer, options: ParseMailOptions = {}): Promise<ParsedMail> {
  const maxText = options.maxTextChars ?? DEFAULT_MAX_TEXT;
  const maxHtml = options.maxHtmlChars ?? DEFAULT_MAX_HTML;
  const maxAttachment = options.maxAttachmentBytes ?? DEFAULT_MAX_ATTACHMENT;

  let mail: MailparserMail;
  try {
    mail = await runParser(raw);
  } catch (err) {
    mail = await fallbackParse(raw, err);
  }

  const headers = headerRecord(mail.headerLines);
  let text = mail.text ?? '';
  const html = typeof mail.html === 'string' ? mail.html : undefined;
  if (!text.trim() && html && !mail.textConversionError) {
    // mailparser converts HTML to text only for a top-level HTML part or beside other text; an
    // HTML-only multipart (common: multipart/related with images) gets no text, so convert it
    // the same way by handing the HTML back as a single-part message
    const converted = await simpleParser(
      Buffer.concat([
        Buffer.from('Content-Type: text/html; charset=utf-8\r\n\r\n'),
        Buffer.from(html),
      ]),
      {
        maxHtmlLengthToParse: MAX_HTML_TO_CONVERT,
        skipTextToHtml: true,
      },
    ).catch(() => undefined);
    text = converted?.text ?? '';
    if (converted?.textConversionError) mail.textConversionError = converted.textConversionError;
  }
  if (!text && html && mail.textConversionError) {
    // the HTML was too large (or too deep) to convert: strip tags from a cut copy instead
    text = html
      .slice(0, maxText * 4)
      .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
      .replace(/<[^>]*>/g, ' ');
    text = text
      .replace(/[ \t]+/g, ' ')
      .replace(/\n{3,}/g, '\n\n')
      .trim();
  }
  const textCut = cut(text, maxText);
  const htmlCut = html === undefined ? undefined : cut(html, maxHtml);

  const attachments: MailAttachment[] = (mail.attachments ?? []).map((a) => {
    const size = a.size ?? a.content?.length ?? 0;
    const attachment: MailAttachment = {
      filename: a.filename,
      contentType: a.contentType || 'application/octet-stream',
      size,
      inline: a.contentDisposition === 'inline' || Boolean(a.related),
    };
    if (a.content && size <= maxAttachment) attachment.content = a.content;
    if (a.cid) attachment.contentId = a.cid;
    return attachment;
  });

  const parsed: ParsedMail = {
    subject: mail.subject ?? '',
    from: addresses(mail.from),
    to: addresses(mail.to),
    cc: addresses(mail.cc),
    replyTo: addresses(mail.replyTo),
    headers,
    text: textCut.value,
    attachments,
    truncated: textCut.cut || Boolean(htmlCut?.cut),
  };
  if (mail.messageId) parsed.messageId = mail.messageId;
  // mailparser puts "now" in for a Date header it cannot read: keep only a date the header gives
  if (
    mail.date &&
    !Number.isNaN(mail.date.getTime()) &&
    headers.date &&
    !Number.isNaN(Date.parse(headers.date))
  ) {
    parsed.date = mail.date;
  }
  if (htmlCut) parsed.html = htmlCut.value;

  const usable =
    Object.keys(headers).length > 0 || parsed.text.trim() !== '' || attachments.length > 0;
  if (!usable)
    throw new MimeParseError('The message has no headers, text or attachments that could be read.');
  return parsed;
}

/** When mailparser gives up: headers from the header block, the rest as text. */
async function fallbackParse(raw: Buffer, cause: unknown): Promise<MailparserMail> {
  const boundary =
    raw.indexOf('\r\n\r\n') >= 0
      ? raw.indexOf('\r\n\r\n') + 4
      : raw.indexOf('\n\n') >= 0
        ? raw.indexOf('\n\n') + 2
        : raw.length;
  let headerPart: MailparserMail;
  try {
    // headers alone, declared as plain text so no MIME structure is parsed again
    const head = raw
      .subarray(0, boundary)
      .toString('latin1')
      .replace(/^content-(type|transfer-encoding):.*(\r?\n[ \t].*)*\r?\n/gim, '');
    headerPart = await runParser(Buffer.from(head + '\r\n', 'latin1'));
  } catch {
    throw new MimeParseError(
      `The message could not be parsed: ${(cause as Error)?.message ?? cause}`,
      { cause },
    );
  }
  headerPart.text = decodeCharset(raw.subarray(boundary), undefined);
  headerPart.attachments = [];
  return headerPart;
}
