import type { RuleCondition, RuleTarget } from '../../db/schema.js';

/** What a rule sees of an incoming mail, webhook call or API event. */
export type RuleEvent = {
  source: 'mail' | 'webhook' | 'api';
  mailboxId?: string | null;
  webhookId?: string | null;
  from?: string | null;
  to?: string | null;
  subject?: string | null;
  text?: string | null;
  headers?: Record<string, string | string[] | undefined>;
  body?: unknown;
};

/** The part of a stored rule the engine needs. */
export type EngineRule = {
  id: string;
  enabled: boolean;
  priority: number;
  sources: { mailboxIds?: string[]; webhookIds?: string[] };
  match: 'all' | 'any';
  conditions: RuleCondition[];
  targets: RuleTarget[];
  stopProcessing: boolean;
};

export const conditionOps = ['contains', 'not_contains', 'equals', 'regex', 'exists'] as const;

const MAX_REGEX_LENGTH = 500;
const MAX_REGEX_INPUT = 100_000;

/**
 * Why a pattern is refused, or null. Catastrophic backtracking comes from a quantified group
 * that itself contains a quantifier (`(a+)+`, `(\w*)*`) or from back-references; both are
 * rejected up front, which is cheaper and more predictable than a vm timeout per match.
 */
export function unsafeRegexReason(pattern: string): string | null {
  if (pattern.length > MAX_REGEX_LENGTH)
    return `pattern longer than ${MAX_REGEX_LENGTH} characters`;
  try {
    new RegExp(pattern, 'i');
  } catch (e) {
    return `invalid regular expression: ${(e as Error).message}`;
  }
  if (/\\[1-9]|\\k</.test(pattern)) return 'back-references are not allowed';
  // Walk groups: flag a group whose content has a quantifier and which is quantified itself.
  const stack: boolean[] = [];
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') stack.push(false);
    else if (c === ')') {
      const hadQuantifier = stack.pop() ?? false;
      const next = pattern[i + 1];
      const quantified = next === '*' || next === '+' || next === '{' || next === '?';
      if (hadQuantifier && quantified && next !== '?') return 'nested quantifiers are not allowed';
      if ((hadQuantifier || quantified) && stack.length) stack[stack.length - 1] = true;
    } else if ((c === '*' || c === '+' || c === '{') && stack.length)
      stack[stack.length - 1] = true;
  }
  return null;
}

function headerValue(event: RuleEvent, name: string): string | undefined {
  const headers = event.headers ?? {};
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  const value = key === undefined ? undefined : headers[key];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Reads `a.b.0.c` from a JSON body. */
export function pathValue(root: unknown, path: string): unknown {
  let current: unknown = root;
  for (const part of path.split('.')) {
    if (current === null || current === undefined || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** The value of a condition field on an event, as a string, or undefined when absent. */
export function fieldValue(event: RuleEvent, field: string): string | undefined {
  let value: unknown;
  if (field.startsWith('header:')) value = headerValue(event, field.slice('header:'.length));
  else if (field === 'body') value = event.body;
  else if (field.startsWith('body.')) value = pathValue(event.body, field.slice('body.'.length));
  else if (field === 'from' || field === 'to' || field === 'subject' || field === 'text')
    value = event[field];
  else return undefined;
  if (value === null || value === undefined) return undefined;
  return typeof value === 'string'
    ? value
    : typeof value === 'object'
      ? JSON.stringify(value)
      : String(value);
}

export function conditionMatches(event: RuleEvent, condition: RuleCondition): boolean {
  const actual = fieldValue(event, condition.field);
  const expected = condition.value ?? '';
  switch (condition.op) {
    case 'exists':
      return actual !== undefined && actual !== '';
    case 'contains':
      return actual !== undefined && actual.toLowerCase().includes(expected.toLowerCase());
    case 'not_contains':
      return actual === undefined || !actual.toLowerCase().includes(expected.toLowerCase());
    case 'equals':
      return actual !== undefined && actual.trim().toLowerCase() === expected.trim().toLowerCase();
    case 'regex': {
      if (actual === undefined || unsafeRegexReason(expected)) return false;
      return new RegExp(expected, 'i').test(actual.slice(0, MAX_REGEX_INPUT));
    }
    default:
      return false;
  }
}

export function sourceMatches(rule: EngineRule, event: RuleEvent): boolean {
  const mailboxIds = rule.sources.mailboxIds ?? [];
  const webhookIds = rule.sources.webhookIds ?? [];
  if (mailboxIds.length === 0 && webhookIds.length === 0) return true;
  if (event.source === 'mail') return !!event.mailboxId && mailboxIds.includes(event.mailboxId);
  if (event.source === 'webhook') return !!event.webhookId && webhookIds.includes(event.webhookId);
  return false;
}

export function ruleMatches(rule: EngineRule, event: RuleEvent): boolean {
  if (!rule.enabled || !sourceMatches(rule, event)) return false;
  if (rule.conditions.length === 0) return true;
  return rule.match === 'any'
    ? rule.conditions.some((c) => conditionMatches(event, c))
    : rule.conditions.every((c) => conditionMatches(event, c));
}

/** The rules an event matches, lowest priority number first, cut after a stop-processing rule. */
export function evaluateRules<R extends EngineRule>(rules: readonly R[], event: RuleEvent): R[] {
  const ordered = [...rules].sort((a, b) => a.priority - b.priority || a.id.localeCompare(b.id));
  const matched: R[] = [];
  for (const rule of ordered) {
    if (!ruleMatches(rule, event)) continue;
    matched.push(rule);
    if (rule.stopProcessing) break;
  }
  return matched;
}
