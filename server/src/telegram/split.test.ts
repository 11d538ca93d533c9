import { describe, expect, it } from 'vitest';
import { parseTelegramHtml } from '../../test/fake-telegram/html-check.js';
import { renderTelegramHtml } from './render.js';
import { CAPTION_LIMIT, MESSAGE_LIMIT, splitTelegramHtml, telegramLength } from './split.js';

/** Each part as Telegram parses it; fails when one would be refused. */
function parsed(parts: string[]) {
  return parts.map((p) => {
    const r = parseTelegramHtml(p);
    if (!r.ok) throw new Error(`${r.error}\n${p.slice(0, 200)}`);
    return r;
  });
}
const visible = (s: string) => s.replace(/\s+/g, '');

describe('splitTelegramHtml', () => {
  it('leaves a message within the limit whole, measured after entity parsing', () => {
    // 4096 visible characters, most of them written as entities: 4096 after parsing, so one part.
    const html = '&amp;'.repeat(2000) + '&lt;'.repeat(2000) + '<b>' + 'x'.repeat(96) + '</b>';
    expect(html.length).toBeGreaterThan(MESSAGE_LIMIT);
    expect(telegramLength(html)).toBe(MESSAGE_LIMIT);
    expect(splitTelegramHtml(html)).toEqual([html]);
    expect(splitTelegramHtml(html + 'y')).toHaveLength(2);
  });

  it('counts UTF-16 units: an emoji outside the BMP is 2, and a pair is never cut', () => {
    const html = '🙂'.repeat(3000); // 6000 units, no spaces
    const parts = splitTelegramHtml(html);
    expect(parts.map((p) => p.length)).toEqual([4096, 1904]);
    expect(parts.join('')).toBe(html);
    const odd = 'a' + '🙂'.repeat(2100); // the limit falls in the middle of a pair
    const oddParts = splitTelegramHtml(odd);
    expect(oddParts[0]!.length).toBe(4095);
    expect(oddParts.join('')).toBe(odd);
    for (const p of oddParts) expect(p).not.toMatch(/^[\udc00-\udfff]|[\ud800-\udbff]$/);
  });

  it('does not separate a joiner sequence or a skin tone at a hard cut', () => {
    const family = '👨‍👩‍👧'; // 8 units with two ZWJ
    const html = 'x'.repeat(4090) + family + 'y'.repeat(10);
    const [first, second] = splitTelegramHtml(html);
    expect(first).toBe('x'.repeat(4090));
    expect(second!.startsWith(family)).toBe(true);
    const tone = 'z'.repeat(4094) + '👍🏽'; // the modifier would be left alone at 4096
    expect(splitTelegramHtml(tone)[1]).toBe('👍🏽');
  });

  it('cuts at the last line break, else the last space, and drops the break', () => {
    const lines = Array.from({ length: 400 }, (_, i) => `line ${i} ${'w'.repeat(10)}`).join('\n');
    const parts = splitTelegramHtml(lines);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(MESSAGE_LIMIT);
    expect(parts.slice(0, -1).every((p) => /w$/.test(p))).toBe(true);
    expect(parts.join('\n')).toBe(lines);
    const words = 'word '.repeat(2000).trim();
    const wp = splitTelegramHtml(words);
    expect(wp.every((p) => !p.startsWith(' ') && !p.endsWith(' ') && /^(word ?)+$/.test(p))).toBe(
      true,
    );
    expect(wp.join(' ')).toBe(words);
  });

  it('never cuts inside a tag or an entity; closes open tags and re-opens them in the next part', () => {
    const html = renderTelegramHtml({
      text:
        '<b>bold <a href="https://ex.com/?a=1&b=2">' +
        'link &amp; text '.repeat(400) +
        '</a></b> <pre><code class="language-ts">' +
        'if (a < b && c > d) {}\n'.repeat(300) +
        '</code></pre>',
      format: 'html',
    });
    const parts = splitTelegramHtml(html);
    expect(parts.length).toBeGreaterThan(2);
    const results = parsed(parts);
    for (const r of results) expect(r.text.length).toBeLessThanOrEqual(MESSAGE_LIMIT);
    expect(results[1]!.entities.map((e) => e.type)).toContain('text_link');
    expect(results[1]!.entities.find((e) => e.type === 'text_link')?.url).toBe(
      'https://ex.com/?a=1&b=2',
    );
    const last = results[results.length - 1]!;
    expect(last.entities[0]).toMatchObject({ type: 'pre', language: 'ts', offset: 0 });
    expect(visible(results.map((r) => r.text).join(''))).toBe(
      visible(parseTelegramHtml(html).ok ? (parseTelegramHtml(html) as { text: string }).text : ''),
    );
  });

  it('gives a caption of at most 1024 first, then messages of 4096', () => {
    const html = renderTelegramHtml({ text: 'caption text '.repeat(1000), format: 'text' });
    const [caption, ...rest] = splitTelegramHtml(html, { firstMax: CAPTION_LIMIT });
    expect(telegramLength(caption!)).toBeLessThanOrEqual(CAPTION_LIMIT);
    expect(telegramLength(caption!)).toBeGreaterThan(CAPTION_LIMIT - 15);
    expect(rest.length).toBe(3);
    expect(rest.every((p) => telegramLength(p) <= MESSAGE_LIMIT)).toBe(true);
  });

  it('splits 10,000-character hostile texts into parts all accepted, nothing lost', () => {
    const hostile = '<script>x</script> & <b>unbalanced <i> 🙂 שלום مرحبا \u202e 👨‍👩‍👧 &amp; <>"\'\n';
    for (const format of ['text', 'html', 'markdown'] as const) {
      let input = '';
      while (input.length < 10_000) input += hostile;
      const html = renderTelegramHtml({ text: input, format });
      const parts = splitTelegramHtml(html);
      expect(parts.length).toBeGreaterThan(1);
      const results = parsed(parts);
      for (const r of results) expect(r.text.length).toBeLessThanOrEqual(MESSAGE_LIMIT);
      const whole = parseTelegramHtml(html);
      expect(whole.ok).toBe(true);
      if (whole.ok) expect(visible(results.map((r) => r.text).join(''))).toBe(visible(whole.text));
    }
  });

  it('drops parts that would be only whitespace, and gives no part for nothing', () => {
    expect(splitTelegramHtml('')).toEqual([]);
    expect(splitTelegramHtml('<b> </b>')).toEqual([]);
    const html = 'a'.repeat(4096) + '\n'.repeat(5000) + 'b';
    expect(splitTelegramHtml(html)).toEqual(['a'.repeat(4096), 'b']);
  });
});
