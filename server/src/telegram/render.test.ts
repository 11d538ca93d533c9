import { describe, expect, it } from 'vitest';
import { parseTelegramHtml } from '../../test/fake-telegram/html-check.js';
import { renderTemplate } from '../modules/rules/template.js';
import { renderTelegramHtml, telegramPlainText, type MessageFormat } from './render.js';

/** Renders and parses as Telegram would; fails the test when Telegram would refuse it. */
function accepted(text: string, format: MessageFormat) {
  const html = renderTelegramHtml({ text, format });
  const parsed = parseTelegramHtml(html);
  if (!parsed.ok) throw new Error(`${parsed.error}\n${html}`);
  return { html, text: parsed.text, entities: parsed.entities };
}

const hostile = [
  '<script>alert("x")</script>',
  '<b>unbalanced <i>tags</b> </u></a> <',
  'AT&T <> & &amp; &bogus; &#0; &#xD800; < > "',
  '</b></i></pre></code> closing first',
  '<a href="javascript:alert(1)">js</a> <a href=\'data:text/html,x\'>data</a>',
  '<a href="https://ex.com/?a=1&b=<2>">q</a>',
  '<img src=x onerror=alert(1)> <svg><script>1</script></svg> <iframe src="//x"></iframe>',
  '<!-- comment <b> --> <![CDATA[ <b> ]]> <?xml version="1.0"?>',
  '<span class="tg-spoiler">s</span> <span style="x">plain</span> <tg-emoji emoji-id="abc">🙂</tg-emoji>',
  'שלום עולם مرحبا \u202e rtl override \u200f',
  '🙂👍🏽👨‍👩‍👧 \ud83d lone surrogate \udc00 and \u0000 NUL \u0007',
  '<pre><b>bold in pre</b><code>code in pre</code></pre> <code><i>i in code</i></code>',
  '<blockquote>a<blockquote>nested</blockquote></blockquote>',
  '<a href="https://a.b"><a href="https://c.d">nested link</a></a>',
  '<<b>>double<</b>>',
  '<b',
  '<table><tr><td>x',
];

describe('renderTelegramHtml', () => {
  it.each(['text', 'html', 'markdown'] as const)(
    'renders hostile input in %s format into HTML the fake Telegram accepts',
    (format) => {
      for (const input of hostile) {
        const { text } = accepted(input, format);
        // eslint-disable-next-line no-control-regex -- no control character may reach Telegram
        expect(text).not.toMatch(/[\u0000-\u0008]/);
        if (format === 'html') expect(text).not.toContain('alert');
      }
      expect(accepted(hostile.join('\n'), format).text.length).toBeGreaterThan(100);
    },
  );

  it('escapes every character of plain text, <script> included, and keeps newlines', () => {
    const r = accepted('<script>x</script> & <b>\nline 2', 'text');
    expect(r.html).toBe('&lt;script&gt;x&lt;/script&gt; &amp; &lt;b&gt;\nline 2');
    expect(r.text).toBe('<script>x</script> & <b>\nline 2');
    expect(r.entities).toEqual([]);
  });

  it('keeps the Telegram subset, maps synonyms, drops the rest with its text kept', () => {
    const r = accepted(
      '<strong>b</strong> <em>i</em> <ins>u</ins> <del>s</del> <strike>s</strike> <font color=red>f</font> <code>c</code>',
      'html',
    );
    expect(r.html).toBe('<b>b</b> <i>i</i> <u>u</u> <s>s</s> <s>s</s> f <code>c</code>');
  });

  it('allows links only to http, https, tg and mailto; the text of others stays', () => {
    const r = accepted(
      '<a href="https://x.org/a?b=1&c=2">w</a> <a href="mailto:a@b.c">m</a> <a href="tg://user?id=5">t</a> <a href="javascript:x">j</a> <a href="/rel">r</a>',
      'html',
    );
    expect(r.entities.map((e) => e.url ?? e.type)).toEqual([
      'https://x.org/a?b=1&c=2',
      'mailto:a@b.c',
      'text_mention',
    ]);
    expect(r.text).toBe('w m t j r');
  });

  it('closes unbalanced tags and ignores stray closing tags', () => {
    expect(accepted('<b>bold <i>both</b> after', 'html').html).toBe(
      '<b>bold <i>both</i></b> after',
    );
    expect(accepted('x</b></i> <u>open', 'html').html).toBe('x <u>open</u>');
  });

  it('lays out real e-mail HTML: no head, style, script or comments; blocks, lists, tables, entities', () => {
    const mail = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Invoice</title>
      <style>td { color: red } /* <b> */</style><script>var a = "<b>";</script></head>
      <body><!--[if mso]><table><tr><td><![endif]-->
      <div class="preheader" style="display:none">   </div>
      <h1>Invoice   #42</h1>
      <p>Dear   customer,<br>your order
         is ready.</p>
      <table><tr><td>Item</td><td><b>Widget</b></td></tr><tr><th>Total</th><td>&euro;&nbsp;5&amp;6</td></tr></table>
      <ul><li>one</li><li>two<ol><li>sub</li></ol></li></ul>
      <p><a href="https://shop.example/o?id=42&amp;t=1">View order</a></p>
      <pre><code class="language-json">{"a": 1 &lt; 2}</code></pre>
      </body></html>`;
    const r = accepted(mail, 'html');
    expect(r.text).toBe(
      'Invoice #42\n\nDear customer,\nyour order is ready.\n\nItem Widget\nTotal €\u00a05&6\n\n• one\n• two\n  1. sub\n\nView order\n\n{"a": 1 < 2}',
    );
    expect(r.html).toContain('<b>Invoice #42</b>');
    expect(r.html).toContain(
      '<pre><code class="language-json">{&quot;a&quot;: 1 &lt; 2}</code></pre>',
    );
    expect(r.entities.find((e) => e.type === 'text_link')?.url).toBe(
      'https://shop.example/o?id=42&t=1',
    );
  });

  it('keeps a Telegram-style fragment as written: newlines kept, no layout', () => {
    const r = accepted('<b>Title</b>\n\nline  one\nline two', 'html');
    expect(r.text).toBe('Title\n\nline  one\nline two');
  });

  it('renders Markdown through marked: emphasis, code, lists, quotes, links; raw HTML sanitized', () => {
    const r = accepted(
      '# Alert\n\n**disk** is _full_ & `df -h` says <script>x</script>\nsecond line\n\n- a\n- b\n\n> quoted\n\n```sh\nrm -rf /tmp/<x>\n```\n\n[docs](https://ex.com/a_b) ~~old~~',
      'markdown',
    );
    expect(r.text).toBe(
      'Alert\n\ndisk is full & df -h says\nsecond line\n\n• a\n• b\n\nquoted\n\nrm -rf /tmp/<x>\n\ndocs old',
    );
    expect(r.entities.map((e) => e.type)).toEqual([
      'bold',
      'bold',
      'italic',
      'code',
      'blockquote',
      'pre',
      'text_link',
      'strikethrough',
    ]);
    expect(r.entities.find((e) => e.type === 'pre')?.language).toBe('sh');
  });

  it('a rule template: variables stay escaped text, the template markup stays markup', () => {
    const html = renderTemplate(
      '<b>{{subject}}</b>\nFrom: {{from}}\n\n{{text}}',
      {
        source: 'mail',
        subject: '<script>alert(1)</script> & <b>Q&A</b>',
        from: 'Eve <eve@evil.example>',
        text: 'line 1\n<i>not italic</i> &amp;',
      },
      {},
    );
    const r = accepted(html, 'html');
    expect(r.text).toBe(
      '<script>alert(1)</script> & <b>Q&A</b>\nFrom: Eve <eve@evil.example>\n\nline 1\n<i>not italic</i> &amp;',
    );
    expect(r.entities).toEqual([{ type: 'bold', offset: 0, length: 38 }]);
  });

  it('telegramPlainText is what Telegram would show', () => {
    const html = renderTelegramHtml({ text: '<b>a &amp; b</b> &lt;c&gt; "d" 🙂', format: 'html' });
    expect(telegramPlainText(html)).toBe(parseTelegramHtml(html).ok && 'a & b <c> "d" 🙂');
  });
});
