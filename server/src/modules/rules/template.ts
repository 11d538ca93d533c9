import { escapeHtml } from '../../telegram/render.js';
import { fieldValue, type RuleEvent } from './engine.js';

/** Context a template reads besides the event itself. */
export type TemplateContext = { mailbox?: string | null; source?: string };

export const DEFAULT_TEMPLATE = '<b>{{subject}}</b>\nFrom: {{from}}\n\n{{text}}';

const MAX_TEXT = 3000;

function variable(event: RuleEvent, ctx: TemplateContext, name: string): string {
  if (name === 'mailbox') return ctx.mailbox ?? '';
  if (name === 'source') return event.source;
  if (name === 'text') {
    const text = (event.text ?? '').trim();
    return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
  }
  return fieldValue(event, name) ?? '';
}

/**
 * Renders a rule template to HTML, which the notification's renderer (telegram/render.ts,
 * format `html`) then brings to Telegram's subset: the template's own markup survives where
 * Telegram has it, and escaped variables stay text whatever they hold. `{{name}}` is HTML-escaped; `{{{name}}}` is
 * inserted as it is — meant for bodies the org itself sends (webhooks), never mail content,
 * so for mail events triple braces are escaped too: a sender must not inject markup.
 */
export function renderTemplate(
  template: string | null | undefined,
  event: RuleEvent,
  ctx: TemplateContext = {},
): string {
  const source = template && template.trim() ? template : DEFAULT_TEMPLATE;
  return source
    .replace(/\{\{\{\s*([\w.:-]+)\s*\}\}\}/g, (_m, name: string) => {
      const value = variable(event, ctx, name);
      return event.source === 'mail' ? escapeHtml(value) : value;
    })
    .replace(/\{\{\s*([\w.:-]+)\s*\}\}/g, (_m, name: string) =>
      escapeHtml(variable(event, ctx, name)),
    );
}
