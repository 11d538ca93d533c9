/**
 * Telegram's `MarkdownV2` and legacy `Markdown` parse modes, after tdlib's
 * `parse_markdown_v2` / `parse_markdown`: plain text plus entities, or the error Telegram puts
 * after "Bad Request: can't parse entities: ". Covers the markup a notifier would send; custom
 * emoji and expandable blockquotes in MarkdownV2 are not modelled.
 */
import type { EntityParseResult, MessageEntity } from './html-check.js';

const RESERVED_V2 = new Set('_*[]()~`>#+-=|{}.!'.split(''));

const V2_NAMES: Record<string, string> = {
  italic: 'Italic',
  underline: 'Underline',
  bold: 'Bold',
  strikethrough: 'Strikethrough',
  spoiler: 'Spoiler',
  text_link: 'TextUrl',
  code: 'Code',
  pre: 'Pre',
};

interface OpenV2 {
  type: string;
  marker: string;
  start: number;
  byte: number;
}

function byteOffset(text: string, index: number): number {
  return Buffer.byteLength(text.slice(0, index), 'utf8');
}

/** Parses MarkdownV2 into plain text and entities. */
export function parseMarkdownV2(md: string): EntityParseResult {
  const entities: MessageEntity[] = [];
  const stack: OpenV2[] = [];
  let out = '';
  let quoteStart = -1;
  const n = md.length;
  let i = 0;

  const closeQuote = (): void => {
    if (quoteStart >= 0 && out.length > quoteStart) {
      entities.push({ type: 'blockquote', offset: quoteStart, length: out.length - quoteStart });
    }
    quoteStart = -1;
  };

  while (i < n) {
    const c = md[i] as string;
    const lineStart = i === 0 || md[i - 1] === '\n';
    if (lineStart) {
      if (c === '>' && stack.length === 0) {
        if (quoteStart < 0) quoteStart = out.length;
        i++;
        continue;
      }
      closeQuote();
    }
    if (c === '\\' && i + 1 < n && (md.charCodeAt(i + 1) ?? 0) <= 126) {
      out += md[i + 1];
      i += 2;
      continue;
    }
    if (c === '`') {
      const isPre = md.startsWith('```', i);
      const marker = isPre ? '```' : '`';
      const begin = i;
      let j = i + marker.length;
      let language: string | undefined;
      if (isPre) {
        const newline = md.indexOf('\n', j);
        const firstLine = newline >= 0 ? md.slice(j, newline) : '';
        if (newline >= 0 && /^[^\s`\\]+$/.test(firstLine)) {
          language = firstLine;
          j = newline + 1;
        }
      }
      let content = '';
      let closed = false;
      while (j < n) {
        if (md[j] === '\\' && (md[j + 1] === '`' || md[j + 1] === '\\')) {
          content += md[j + 1];
          j += 2;
        } else if (md.startsWith(marker, j)) {
          closed = true;
          break;
        } else {
          content += md[j];
          j++;
        }
      }
      if (!closed) {
        return {
          ok: false,
          error: `Can't find end of ${isPre ? 'Pre' : 'Code'} entity at byte offset ${byteOffset(md, begin)}`,
        };
      }
      if (content.length > 0) {
        const entity: MessageEntity = {
          type: isPre ? 'pre' : 'code',
          offset: out.length,
          length: content.length,
        };
        if (language) entity.language = language;
        entities.push(entity);
      }
      out += content;
      i = j + marker.length;
      continue;
    }

    let marker: string | undefined;
    let type: string | undefined;
    if (c === '_' && md[i + 1] === '_') [marker, type] = ['__', 'underline'];
    else if (c === '_') [marker, type] = ['_', 'italic'];
    else if (c === '*') [marker, type] = ['*', 'bold'];
    else if (c === '~') [marker, type] = ['~', 'strikethrough'];
    else if (c === '|' && md[i + 1] === '|') [marker, type] = ['||', 'spoiler'];
    else if (c === '[') [marker, type] = ['[', 'text_link'];

    const top = stack[stack.length - 1];
    if (c === ']' && top?.type === 'text_link') {
      stack.pop();
      if (md[i + 1] !== '(') {
        return {
          ok: false,
          error: `Can't find end of a URL at byte offset ${byteOffset(md, i + 1)}`,
        };
      }
      let j = i + 2;
      let url = '';
      while (j < n && md[j] !== ')') {
        if (md[j] === '\\' && j + 1 < n) {
          url += md[j + 1];
          j += 2;
        } else {
          url += md[j];
          j++;
        }
      }
      if (j >= n) {
        return {
          ok: false,
          error: `Can't find end of a URL at byte offset ${byteOffset(md, i + 1)}`,
        };
      }
      if (out.length > top.start) {
        entities.push({
          type: 'text_link',
          offset: top.start,
          length: out.length - top.start,
          url,
        });
      }
      i = j + 1;
      continue;
    }
    if (marker !== undefined && type !== undefined) {
      if (top && top.marker === marker && type !== 'text_link') {
        stack.pop();
        if (out.length > top.start) {
          entities.push({ type, offset: top.start, length: out.length - top.start });
        }
      } else {
        stack.push({ type, marker, start: out.length, byte: byteOffset(md, i) });
      }
      i += marker.length;
      continue;
    }
    if (RESERVED_V2.has(c)) {
      return {
        ok: false,
        error: `Character '${c}' is reserved and must be escaped with the preceding '\\'`,
      };
    }
    out += c;
    i++;
  }
  const unclosed = stack[stack.length - 1];
  if (unclosed) {
    return {
      ok: false,
      error: `Can't find end of ${V2_NAMES[unclosed.type] ?? unclosed.type} entity at byte offset ${unclosed.byte}`,
    };
  }
  closeQuote();
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length);
  return { ok: true, text: out, entities };
}

/** Parses legacy Markdown (no nesting; `\` escapes only `_ * \` [`). */
export function parseLegacyMarkdown(md: string): EntityParseResult {
  const entities: MessageEntity[] = [];
  let out = '';
  const n = md.length;
  let i = 0;
  const unclosed = (at: number): EntityParseResult => ({
    ok: false,
    error: `Can't find end of the entity starting at byte offset ${byteOffset(md, at)}`,
  });
  while (i < n) {
    const c = md[i] as string;
    if (c === '\\' && '_*`['.includes(md[i + 1] ?? '')) {
      out += md[i + 1];
      i += 2;
      continue;
    }
    if (c === '_' || c === '*' || c === '`') {
      const marker = c === '`' && md.startsWith('```', i) ? '```' : c;
      const end = md.indexOf(marker, i + marker.length);
      if (end < 0) return unclosed(i);
      let content = md.slice(i + marker.length, end);
      let language: string | undefined;
      if (marker === '```') {
        const newline = content.indexOf('\n');
        if (newline > 0 && /^[^\s]+$/.test(content.slice(0, newline))) {
          language = content.slice(0, newline);
          content = content.slice(newline + 1);
        }
      }
      const type =
        marker === '_' ? 'italic' : marker === '*' ? 'bold' : marker === '`' ? 'code' : 'pre';
      if (content.length > 0) {
        const entity: MessageEntity = { type, offset: out.length, length: content.length };
        if (language) entity.language = language;
        entities.push(entity);
      }
      out += content;
      i = end + marker.length;
      continue;
    }
    if (c === '[') {
      const close = md.indexOf(']', i + 1);
      if (close < 0 || md[close + 1] !== '(') return unclosed(i);
      const urlEnd = md.indexOf(')', close + 2);
      if (urlEnd < 0) return unclosed(i);
      const content = md.slice(i + 1, close);
      const url = md.slice(close + 2, urlEnd);
      if (content.length > 0) {
        entities.push({ type: 'text_link', offset: out.length, length: content.length, url });
      }
      out += content;
      i = urlEnd + 1;
      continue;
    }
    out += c;
    i++;
  }
  return { ok: true, text: out, entities };
}
