/** Telegram HTML's escaping and its reverse: no dependencies, so a runner can load it cheaply. */

/** Escapes text for Telegram HTML (also safe inside a double-quoted attribute). */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** The text Telegram shows for Telegram HTML (tags removed, entities decoded): the plain-text fallback. */
export function telegramPlainText(html: string): string {
  return html
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|lt|gt|amp|quot);/gi, (_m, e: string) => {
      const k = e.toLowerCase();
      if (k === 'lt') return '<';
      if (k === 'gt') return '>';
      if (k === 'amp') return '&';
      if (k === 'quot') return '"';
      return String.fromCodePoint(
        k.startsWith('#x') ? parseInt(k.slice(2), 16) : parseInt(k.slice(1), 10),
      );
    });
}
