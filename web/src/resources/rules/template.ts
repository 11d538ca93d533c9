/** Client-side rendering of a rule template for the live preview (the server renders for real). */

/** An e-mail event as a rule sees it; `body` is what a webhook event carries. */
export const SAMPLE_EVENT = {
  source: 'mail',
  mailbox: 'Ops inbox',
  from: 'Monitoring <alerts@example.com>',
  to: 'ops@example.com',
  subject: 'Disk space low on db-1',
  text: 'Free space on /var is 4% (<5%).\nClean up old dumps & rotate logs.',
  headers: { 'X-Priority': '1', 'Message-ID': '<abc123@example.com>' },
  body: { host: 'db-1', level: 'critical', value: 4 },
};

export const DEFAULT_TEMPLATE = '<b>{{subject}}</b>\nFrom: {{from}}\n\n{{text}}';

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/** Reads `a.b.c` from nested objects; header names are matched case-insensitively. */
export function lookup(vars: Record<string, unknown>, path: string): unknown {
  let current: unknown = vars;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    const obj = current as Record<string, unknown>;
    if (part in obj) {
      current = obj[part];
      continue;
    }
    const key = Object.keys(obj).find((k) => k.toLowerCase() === part.toLowerCase());
    current = key === undefined ? undefined : obj[key];
  }
  return current;
}

function asText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * Substitutes `{{path}}` with the event's value, HTML-escaped (the template itself is Telegram
 * HTML, the values are data). Unknown variables render empty.
 */
export function renderTemplate(template: string, vars: Record<string, unknown>): string {
  return template.replace(/\{\{\s*([\w.:-]+)\s*\}\}/g, (_m, path: string) =>
    escapeHtml(asText(lookup(vars, path.replace(/^header:/, 'headers.')))),
  );
}

/**
 * Variables a template may use for a given event, for the editor's hint list. Headers are
 * named as the server reads them, `header:<Name>` (a `headers.<Name>` renders empty there).
 */
export function templateVariables(vars: Record<string, unknown>, prefix = '', depth = 0): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(vars)) {
    if (!prefix && key === 'headers' && value && typeof value === 'object') {
      out.push(...Object.keys(value).map((name) => `header:${name}`));
      continue;
    }
    const path = prefix ? `${prefix}.${key}` : key;
    if (value && typeof value === 'object' && !Array.isArray(value) && depth < 2) {
      out.push(...templateVariables(value as Record<string, unknown>, path, depth + 1));
    } else out.push(path);
  }
  return out;
}
