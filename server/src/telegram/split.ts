/**
 * Splits Telegram HTML (as render.ts writes it: balanced tags, entities for `&<>"`) into
 * parts Telegram accepts. Length is measured as Telegram measures it: UTF-16 code units of
 * the text after entity parsing — a tag counts 0, `&amp;` counts 1, an emoji outside the
 * BMP counts 2. Parts end at a line break, else a space, else (a word longer than a
 * message) between characters — never inside a tag, an entity, a surrogate pair or before
 * a combining mark / joiner — and tags still open at a cut are closed there and re-opened
 * at the start of the next part.
 */

/** Telegram's limits, in UTF-16 code units after entity parsing. */
export const MESSAGE_LIMIT = 4096;
export const CAPTION_LIMIT = 1024;

type Token =
  | { kind: 'open'; raw: string; name: string }
  | { kind: 'close'; raw: string; name: string }
  | { kind: 'char'; raw: string; char: string; units: number };

const tokenPattern = /<(\/?)([a-zA-Z][\w-]*)[^>]*>|&(?:#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);|[\s\S]/gu;

function decode(entity: string): string {
  const body = entity.slice(1, -1).toLowerCase();
  if (body === 'lt') return '<';
  if (body === 'gt') return '>';
  if (body === 'amp') return '&';
  if (body === 'quot') return '"';
  if (body.startsWith('#x')) return String.fromCodePoint(parseInt(body.slice(2), 16));
  if (body.startsWith('#')) return String.fromCodePoint(parseInt(body.slice(1), 10));
  return entity;
}

function tokenize(html: string): Token[] {
  const tokens: Token[] = [];
  for (const m of html.matchAll(tokenPattern)) {
    const raw = m[0];
    if (m[2] !== undefined) {
      const name = m[2].toLowerCase();
      tokens.push(m[1] ? { kind: 'close', raw, name } : { kind: 'open', raw, name });
    } else {
      const char = raw.length > 1 && raw[0] === '&' ? decode(raw) : raw;
      tokens.push({ kind: 'char', raw, char, units: char.length });
    }
  }
  return tokens;
}

/** The length Telegram counts for this Telegram HTML. */
export function telegramLength(html: string): number {
  let n = 0;
  for (const t of tokenize(html)) if (t.kind === 'char') n += t.units;
  return n;
}

/** A character that belongs to the one before it: a cut must not go between them. */
function attaches(char: string): boolean {
  const cp = char.codePointAt(0)!;
  return (
    /^\p{M}$/u.test(char) ||
    cp === 0x200c || // zero-width non-joiner
    cp === 0x200d || // zero-width joiner
    cp === 0xfe0e ||
    cp === 0xfe0f || // variation selectors
    (cp >= 0x1f3fb && cp <= 0x1f3ff) || // skin tones
    (cp >= 0xe0020 && cp <= 0xe007f) // tag characters (flags)
  );
}

/**
 * Splits into parts of at most `max` units each (`firstMax` for the first: a caption).
 * Parts that would hold only whitespace are dropped; an empty input gives no parts.
 */
export function splitTelegramHtml(
  html: string,
  options: { max?: number; firstMax?: number } = {},
): string[] {
  const max = options.max ?? MESSAGE_LIMIT;
  const firstMax = options.firstMax ?? max;
  const tokens = tokenize(html);
  const parts: string[] = [];
  const open: Array<Extract<Token, { kind: 'open' }>> = [];
  let i = 0;
  while (i < tokens.length) {
    const limit = parts.length ? max : firstMax;
    // How far the part can reach, and the last line break and space within it.
    let units = 0;
    let j = i;
    let lastBreak = -1;
    let lastSpace = -1;
    let breakAt = 0;
    let spaceAt = 0;
    for (; j < tokens.length; j++) {
      const t = tokens[j]!;
      if (t.kind !== 'char') continue;
      if (units + t.units > limit) break;
      units += t.units;
      if (t.char === '\n') [lastBreak, breakAt] = [j, units];
      else if (/\s/.test(t.char)) [lastSpace, spaceAt] = [j, units];
    }
    let end = j; // tokens [i, end) form this part
    let next = j; // where the next part starts
    if (j < tokens.length) {
      const half = limit / 2;
      const stop = tokens[j] as Extract<Token, { kind: 'char' }>;
      const cutAt = /\s/.test(stop.char)
        ? j // the first character that does not fit is a break: a cut right at the limit
        : lastBreak >= 0 && breakAt >= half
          ? lastBreak
          : lastSpace >= 0 && spaceAt >= half
            ? lastSpace
            : Math.max(lastBreak, lastSpace);
      if (cutAt > i) {
        end = cutAt;
        next = cutAt + 1; // the break itself is dropped
      } else {
        // One word longer than the limit: cut between characters that do not belong together.
        while (end > i + 1 && isJoined(tokens, end)) end--;
        next = end;
      }
    }
    let part = open.map((t) => t.raw).join('');
    for (let k = i; k < end; k++) {
      const t = tokens[k]!;
      part += t.raw;
      if (t.kind === 'open') open.push(t);
      else if (t.kind === 'close') open.pop();
    }
    part += open
      .map((t) => `</${t.name}>`)
      .reverse()
      .join('');
    if (/\S/.test(plainOf(part))) parts.push(trimWhitespace(part));
    i = Math.max(next, i + 1);
  }
  return parts;
}

function isJoined(tokens: Token[], at: number): boolean {
  const here = tokens[at];
  const before = tokens[at - 1];
  if (here?.kind === 'char' && attaches(here.char)) return true;
  return before?.kind === 'char' && before.char === '\u200d';
}

function plainOf(part: string): string {
  let s = '';
  for (const t of tokenize(part)) if (t.kind === 'char') s += t.char;
  return s;
}

/** Leading and trailing whitespace, which Telegram drops anyway, outside and inside edge tags. */
function trimWhitespace(part: string): string {
  return part.replace(/^((?:<[^/>][^>]*>)*)\s+/, '$1').replace(/\s+((?:<\/[^>]+>)*)$/, '$1');
}
