/**
 * Telegram's `parse_mode: "HTML"` parser, written after tdlib's `parse_html`: it turns the
 * markup into plain text plus message entities (offsets in UTF-16 code units, as the Bot API
 * counts them) or fails with the message Telegram puts after "Bad Request: can't parse
 * entities: ". It is stricter than tdlib in one place, on purpose: a `&` that does not start
 * a known entity is an error (tdlib keeps it literally), so our renderer must always escape.
 */

/** A Bot API MessageEntity. */
export interface MessageEntity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  language?: string;
  custom_emoji_id?: string;
}

/** The outcome of parsing formatted text: plain text and entities, or Telegram's error. */
export type EntityParseResult =
  | { ok: true; text: string; entities: MessageEntity[] }
  | { ok: false; error: string };

const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };

/** Tag → entity type; `span`, `a`, `code`, `pre`, `blockquote`, `tg-emoji` get special care. */
const TAG_TYPES: Record<string, string> = {
  b: 'bold',
  strong: 'bold',
  i: 'italic',
  em: 'italic',
  u: 'underline',
  ins: 'underline',
  s: 'strikethrough',
  strike: 'strikethrough',
  del: 'strikethrough',
  span: 'spoiler',
  'tg-spoiler': 'spoiler',
  a: 'text_link',
  code: 'code',
  pre: 'pre',
  blockquote: 'blockquote',
  'tg-emoji': 'custom_emoji',
};

interface OpenTag {
  name: string;
  start: number;
  attributes: Map<string, string>;
}

function byteOffset(text: string, index: number): number {
  return Buffer.byteLength(text.slice(0, index), 'utf8');
}

/**
 * Decodes the HTML entity starting at `text[i] === '&'`.
 * Returns the decoded string and the index after it, or null when it is not a known entity.
 */
function decodeEntity(text: string, i: number): { value: string; end: number } | null {
  const match = /^&(#[xX][0-9a-fA-F]{1,8}|#[0-9]{1,10}|[a-zA-Z]{1,10});/.exec(
    text.slice(i, i + 16),
  );
  if (!match || match[1] === undefined) return null;
  const body = match[1];
  let value: string | undefined;
  if (body.startsWith('#')) {
    const code =
      body[1] === 'x' || body[1] === 'X'
        ? parseInt(body.slice(2), 16)
        : parseInt(body.slice(1), 10);
    if (code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff)) {
      value = String.fromCodePoint(code);
    }
  } else {
    value = NAMED_ENTITIES[body];
  }
  return value === undefined ? null : { value, end: i + match[0].length };
}

/** Parses Telegram HTML into plain text and entities. */
export function parseTelegramHtml(html: string): EntityParseResult {
  const fail = (error: string): EntityParseResult => ({ ok: false, error });
  const entities: MessageEntity[] = [];
  const stack: OpenTag[] = [];
  let out = '';
  let i = 0;
  const n = html.length;

  while (i < n) {
    const c = html[i] as string;
    if (c === '&') {
      const decoded = decodeEntity(html, i);
      if (!decoded) {
        return fail(
          `Character '&' must start a known HTML entity (&lt; &gt; &amp; &quot; or numeric) at byte offset ${byteOffset(html, i)}`,
        );
      }
      out += decoded.value;
      i = decoded.end;
      continue;
    }
    if (c === '>') {
      // tdlib accepts a bare '>' in text.
      out += c;
      i++;
      continue;
    }
    if (c !== '<') {
      out += c;
      i++;
      continue;
    }

    const tagBegin = i;
    if (html[i + 1] === '/') {
      // End tag.
      let j = i + 2;
      while (j < n && /[a-zA-Z0-9-]/.test(html[j] as string)) j++;
      const name = html.slice(i + 2, j).toLowerCase();
      while (j < n && /\s/.test(html[j] as string)) j++;
      if (html[j] !== '>')
        return fail(`Unclosed end tag at byte offset ${byteOffset(html, tagBegin)}`);
      const open = stack.pop();
      if (!open) return fail(`Unexpected end tag at byte offset ${byteOffset(html, tagBegin)}`);
      if (open.name !== name) {
        return fail(
          `Unmatched end tag at byte offset ${byteOffset(html, tagBegin)}, expected "</${open.name}>", found "</${name}>"`,
        );
      }
      closeEntity(open, out, stack, entities);
      i = j + 1;
      continue;
    }

    // Start tag.
    let j = i + 1;
    while (j < n && /[a-zA-Z0-9-]/.test(html[j] as string)) j++;
    const name = html.slice(i + 1, j).toLowerCase();
    if (name === '' || !(name in TAG_TYPES)) {
      return fail(`Unsupported start tag "${name}" at byte offset ${byteOffset(html, tagBegin)}`);
    }
    const attributes = new Map<string, string>();
    for (;;) {
      while (j < n && /\s/.test(html[j] as string)) j++;
      if (j >= n) return fail(`Unclosed start tag at byte offset ${byteOffset(html, tagBegin)}`);
      if (html[j] === '>') break;
      const attrBegin = j;
      while (j < n && /[a-zA-Z0-9_-]/.test(html[j] as string)) j++;
      const attrName = html.slice(attrBegin, j).toLowerCase();
      if (attrName === '') {
        return fail(
          `Empty attribute name in the tag "${name}" at byte offset ${byteOffset(html, tagBegin)}`,
        );
      }
      while (j < n && /\s/.test(html[j] as string)) j++;
      let value = '';
      if (html[j] === '=') {
        j++;
        while (j < n && /\s/.test(html[j] as string)) j++;
        if (j >= n) return fail(`Unclosed start tag at byte offset ${byteOffset(html, tagBegin)}`);
        const quote = html[j];
        let raw: string;
        if (quote === '"' || quote === "'") {
          const close = html.indexOf(quote, j + 1);
          if (close < 0)
            return fail(`Unclosed start tag at byte offset ${byteOffset(html, tagBegin)}`);
          raw = html.slice(j + 1, close);
          j = close + 1;
        } else {
          const begin = j;
          while (j < n && !/[\s>]/.test(html[j] as string)) j++;
          raw = html.slice(begin, j);
        }
        const decoded = decodeAttribute(raw);
        if (decoded === null) {
          return fail(
            `Character '&' must start a known HTML entity in the attribute of the tag "${name}" at byte offset ${byteOffset(html, tagBegin)}`,
          );
        }
        value = decoded;
      }
      attributes.set(attrName, value);
    }

    if (name === 'span' && attributes.get('class') !== 'tg-spoiler') {
      return fail(
        `Tag "span" must have class "tg-spoiler" at byte offset ${byteOffset(html, tagBegin)}`,
      );
    }
    if (name === 'tg-emoji' && !/^[0-9]+$/.test(attributes.get('emoji-id') ?? '')) {
      return fail(
        `Tag "tg-emoji" must have attribute "emoji-id" with a valid custom emoji identifier at byte offset ${byteOffset(html, tagBegin)}`,
      );
    }
    stack.push({ name, start: out.length, attributes });
    i = j + 1;
  }

  const unclosed = stack[stack.length - 1];
  if (unclosed) return fail(`Can't find end tag corresponding to start tag "${unclosed.name}"`);
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
  return { ok: true, text: out, entities };
}

function decodeAttribute(raw: string): string | null {
  let result = '';
  for (let k = 0; k < raw.length; ) {
    if (raw[k] === '&') {
      const decoded = decodeEntity(raw, k);
      if (!decoded) return null;
      result += decoded.value;
      k = decoded.end;
    } else {
      result += raw[k];
      k++;
    }
  }
  return result;
}

function closeEntity(
  open: OpenTag,
  out: string,
  stack: OpenTag[],
  entities: MessageEntity[],
): void {
  const length = out.length - open.start;
  if (length === 0) return;
  const type = TAG_TYPES[open.name] as string;
  const entity: MessageEntity = { type, offset: open.start, length };
  if (open.name === 'a') {
    const href = open.attributes.get('href') ?? '';
    const mention = /^tg:\/\/user\?id=(\d+)$/.exec(href);
    if (mention) entity.type = 'text_mention';
    else if (href === '') entity.type = 'url';
    else entity.url = href;
  } else if (open.name === 'code') {
    // <pre><code class="language-x">…</code></pre> is one pre entity with a language.
    const parent = stack[stack.length - 1];
    const language = /^language-(.+)$/.exec(open.attributes.get('class') ?? '')?.[1];
    if (parent?.name === 'pre' && parent.start === open.start) {
      if (language) parent.attributes.set('data-language', language);
      return;
    }
  } else if (open.name === 'pre') {
    const language = open.attributes.get('data-language');
    if (language) entity.language = language;
  } else if (open.name === 'blockquote') {
    if (open.attributes.has('expandable')) entity.type = 'expandable_blockquote';
  } else if (open.name === 'tg-emoji') {
    entity.custom_emoji_id = open.attributes.get('emoji-id') as string;
  }
  entities.push(entity);
}
