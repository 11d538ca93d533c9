/** The rule condition model: `{field, op, value}` as the API stores it, and the editor's split view. */
export type ConditionOp = 'contains' | 'not_contains' | 'equals' | 'regex' | 'exists';
export type FieldKind = 'from' | 'to' | 'subject' | 'text' | 'header' | 'body';

export interface Condition {
  field: string;
  op: ConditionOp;
  value?: string;
}

export const FIELD_KINDS: FieldKind[] = ['from', 'to', 'subject', 'text', 'header', 'body'];
export const OPS: ConditionOp[] = ['contains', 'not_contains', 'equals', 'regex', 'exists'];

/** `header:X-Priority` → `{kind: 'header', name: 'X-Priority'}`; `body.alert.level` → body / `alert.level`. */
export function splitField(field: string): { kind: FieldKind; name: string } {
  if (field.startsWith('header:')) return { kind: 'header', name: field.slice('header:'.length) };
  if (field === 'body' || field.startsWith('body.')) return { kind: 'body', name: field.slice(5) };
  if ((FIELD_KINDS as string[]).includes(field)) return { kind: field as FieldKind, name: '' };
  return { kind: 'subject', name: '' };
}

export function joinField(kind: FieldKind, name: string): string {
  if (kind === 'header') return `header:${name.trim()}`;
  if (kind === 'body') return name.trim() ? `body.${name.trim().replace(/^body\./, '')}` : 'body';
  return kind;
}

/** A condition as sent to the API: `exists` carries no value. */
export function normalizeCondition(c: Condition): Condition {
  if (c.op === 'exists') return { field: c.field, op: c.op };
  return { field: c.field, op: c.op, value: c.value ?? '' };
}

export const NEW_CONDITION: Condition = { field: 'subject', op: 'contains', value: '' };
