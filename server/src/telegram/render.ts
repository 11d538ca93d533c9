/**
 * The one renderer from what NotifyPro accepts (plain text, HTML — e-mail HTML included —
 * and Markdown) to Telegram's HTML subset: b, i, u, s, a (http, https, tg, mailto),
 * code, pre (with a language), blockquote (expandable), tg-spoiler. Everything else is
 * escaped or dropped, and the output is always well formed: every tag it opens it closes,
 * every `&`, `<`, `>` in text is an entity. Splitting to Telegram's length limits is
 * split.ts's job; it relies on this shape.
 */
import { Parser } from 'htmlparser2';
import { Marked } from 'marked';
import { escapeHtml } from './html.js';

export { escapeHtml, telegramPlainText } from './html.js';

export type MessageFormat = 'text' | 'html' | 'markdown';

// C0 controls other than tab and newline, and lone surrogates, never reach Telegram.
const unsendable =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const clean = (s: string) => s.replace(/\r\n?/g, '\n').replace(unsendable, '');

/** Renders `text` in `format` to Telegram HTML. */
export function renderTelegramHtml(input: { text: string; format: MessageFormat }): string {
  switch (input.format) {
    case 'html':
      return htmlToTelegram(input.text);
    case 'markdown':
      return markdownToTelegram(input.text);
    default:
      return escapeHtml(clean(input.text)).trim();
  }
}

const markdown = new Marked({ gfm: true, breaks: true, async: false });

/** Markdown (GFM, single newlines kept as line breaks) to Telegram HTML, via marked's HTML. */
export function markdownToTelegram(md: string): string {
  return htmlToTelegram(markdown.parse(clean(md)) as string, { document: true });
}

const inlineTags: Record<string, string> = {
  b: 'b',
  strong: 'b',
  i: 'i',
  em: 'i',
  cite: 'i',
  u: 'u',
  ins: 'u',
  s: 's',
  strike: 's',
  del: 's',
  'tg-spoiler': 'tg-spoiler',
  code: 'code',
  kbd: 'code',
  samp: 'code',
  tt: 'code',
};
/** Elements whose content is never shown (htmlparser2 reads script and style as raw text). */
const hiddenTags = new Set([
  'script',
  'style',
  'head',
  'title',
  'template',
  'noscript',
  'svg',
  'math',
  'iframe',
  'object',
  'select',
  'textarea',
  'button',
]);
/** Block elements: a line break around them (two for the paragraph-like ones). */
const paragraphTags = new Set([
  'p',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'table',
  'blockquote',
  'pre',
  'dl',
  'figure',
]);
const blockTags = new Set([
  'address',
  'article',
  'aside',
  'center',
  'dd',
  'details',
  'dialog',
  'div',
  'dt',
  'fieldset',
  'figcaption',
  'footer',
  'form',
  'header',
  'hr',
  'li',
  'main',
  'nav',
  'ol',
  'section',
  'summary',
  'tbody',
  'thead',
  'tfoot',
  'tr',
  'ul',
  'caption',
]);
const headingTags = new Set(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
/** Markup that says "this is a document, lay it out like a browser" rather than Telegram-style HTML. */
const documentMarkers =
  /<(?:!doctype|html|body|head|p|div|table|tr|td|li|ul|ol|h[1-6]|center|section|article)[\s>/]/i;
const linkSchemes = /^(?:https?|tg|mailto):/i;

type Counter = 'hidden' | 'pre' | 'code' | 'link' | 'quote';
type Open = {
  name: string;
  /** What closes it in the output ('' when it emitted nothing). */
  close: string;
  /** The nesting counter it raised, lowered again when it closes. */
  counter?: Counter;
  list?: { ordered: boolean; n: number };
};

/**
 * HTML to Telegram HTML. A document (e-mail HTML, or anything with paragraphs, tables,
 * lists) is laid out like a browser would: whitespace collapsed, line breaks around blocks,
 * `<br>` as a newline, headings bold, list items with bullets, table cells side by side.
 * A fragment in Telegram's own style keeps its newlines as they are.
 */
export function htmlToTelegram(html: string, options: { document?: boolean } = {}): string {
  const source = clean(html);
  const document = options.document ?? documentMarkers.test(source);
  let out = '';
  let lineStart = true; // nothing but newlines (or nothing) emitted since the last line break
  let pendingBreaks = 0;
  let pendingSpace = false;
  const depth: Record<Counter, number> = { hidden: 0, pre: 0, code: 0, link: 0, quote: 0 };
  let preText = false; // text emitted since the innermost <pre> opened
  let cellInRow = 0;
  const stack: Open[] = [];

  const flush = () => {
    if (pendingBreaks) {
      // Breaks go before any opening tags just emitted, and never at the very start.
      const tail = /( *)(\n*)((?:<[^/>][^>]*>)*)$/.exec(out)!;
      if (tail.index > 0) {
        const breaks = Math.max(tail[2]!.length, pendingBreaks);
        out = out.slice(0, tail.index) + '\n'.repeat(breaks) + tail[3];
      }
      lineStart = true;
    } else if (pendingSpace && !lineStart) out += ' ';
    pendingBreaks = 0;
    pendingSpace = false;
  };
  const breakLine = (n: number) => {
    if (document) pendingBreaks = Math.max(pendingBreaks, n);
  };
  const emitTag = (tag: string) => {
    flush();
    out += tag;
  };
  const emitText = (text: string) => {
    if (!text) return;
    flush();
    out += escapeHtml(text);
    lineStart = text.endsWith('\n');
    if (depth.pre) preText = true;
  };
  const listOf = () => [...stack].reverse().find((o) => o.list)?.list;

  const parser = new Parser(
    {
      onopentag(name, attrs) {
        const open: Open = { name, close: '' };
        stack.push(open);
        const enter = (counter: Counter, tag?: string, close?: string) => {
          depth[counter]++;
          open.counter = counter;
          if (tag) {
            open.close = close!;
            emitTag(tag);
          }
        };
        if (hiddenTags.has(name)) return enter('hidden');
        if (depth.hidden) return;
        if (name === 'br') {
          if (document) {
            out = out.replace(/ +$/, '');
            pendingSpace = false;
            if (pendingBreaks) flush();
            out += '\n';
            lineStart = true;
          } else emitText('\n');
          return;
        }
        if (paragraphTags.has(name)) breakLine(2);
        else if (blockTags.has(name))
          breakLine(name === 'ol' || name === 'ul' ? (listOf() ? 1 : 2) : 1);
        if (name === 'ul' || name === 'ol') open.list = { ordered: name === 'ol', n: 0 };
        if (name === 'tr') cellInRow = 0;
        if ((name === 'td' || name === 'th') && cellInRow++ > 0 && document) pendingSpace = true;
        if (name === 'hr') {
          breakLine(1);
          emitText('——————');
          breakLine(1);
          return;
        }
        if (name === 'li') {
          const list = listOf();
          const level = stack.filter((o) => o.list).length;
          flush();
          out += '  '.repeat(Math.max(0, level - 1)) + (list?.ordered ? `${++list.n}. ` : '• ');
          lineStart = false;
          return;
        }
        // Telegram allows no entity inside code or pre, one blockquote level, no link in a link.
        if (name === 'pre') {
          if (depth.pre || depth.code) return;
          preText = false;
          return enter('pre', '<pre>', '</pre>');
        }
        if (name === 'code' && depth.pre && !depth.code && !preText) {
          const language = /(?:^|\s)language-([\w+#.-]{1,32})(?:\s|$)/.exec(attrs.class ?? '')?.[1];
          return language
            ? enter('code', `<code class="language-${escapeHtml(language)}">`, '</code>')
            : enter('code');
        }
        if (depth.pre || depth.code) return;
        if (headingTags.has(name)) {
          open.close = '</b>';
          return emitTag('<b>');
        }
        if (name === 'blockquote') {
          if (depth.quote) return;
          const tag = 'expandable' in attrs ? '<blockquote expandable>' : '<blockquote>';
          return enter('quote', tag, '</blockquote>');
        }
        if (name === 'a') {
          const href = (attrs.href ?? '').trim();
          if (depth.link || !linkSchemes.test(href)) return;
          return enter('link', `<a href="${escapeHtml(href)}">`, '</a>');
        }
        const mapped =
          name === 'span' && /(?:^|\s)tg-spoiler(?:\s|$)/.test(attrs.class ?? '')
            ? 'tg-spoiler'
            : inlineTags[name];
        if (!mapped) return;
        if (mapped === 'code') return enter('code', '<code>', '</code>');
        open.close = `</${mapped}>`;
        emitTag(`<${mapped}>`);
      },
      ontext(text) {
        if (depth.hidden) return;
        if (depth.pre || !document) return emitText(text);
        text.split(/[ \t\n\f]+/).forEach((word, k) => {
          if (k > 0) pendingSpace = true;
          if (word) emitText(word);
        });
      },
      onclosetag(name) {
        // htmlparser2 reports closes balanced (implied ones included): this pops what it opened.
        const open = stack.pop();
        if (!open) return;
        if (open.counter) depth[open.counter]--;
        if (open.counter === 'hidden' || depth.hidden) return;
        // A code block's last newline is layout, not content (marked writes one).
        if (open.counter === 'pre' || (open.counter === 'code' && depth.pre))
          out = out.replace(/\n+$/, '');
        out += open.close;
        if (paragraphTags.has(name)) breakLine(2);
        else if (blockTags.has(name))
          breakLine(name === 'li' || name === 'tr' ? 1 : listOf() ? 1 : 2);
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(source);
  parser.end();
  return trimTelegramHtml(out);
}

/** Drops leading and trailing whitespace as Telegram would, keeping the tags around it. */
function trimTelegramHtml(html: string): string {
  return html.replace(/^((?:<[^>]+>)*)\s+/, '$1').replace(/\s+((?:<\/[^>]+>)*)$/, '$1');
}
