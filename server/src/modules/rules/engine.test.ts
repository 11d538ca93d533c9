import { describe, expect, it } from 'vitest';
import {
  evaluateRules,
  unsafeRegexReason,
  conditionMatches,
  type EngineRule,
  type RuleEvent,
} from './engine.js';
import { renderTemplate } from './template.js';

const mail: RuleEvent = {
  source: 'mail',
  mailboxId: 'mb1',
  from: 'Alerts <alerts@example.com>',
  to: 'ops@example.com',
  subject: 'CRITICAL: disk full on db1',
  text: '  Disk /var is 99% full  ',
  headers: { 'X-Priority': '1' },
};
const hook: RuleEvent = {
  source: 'webhook',
  webhookId: 'wh1',
  body: { alert: { level: 'high', name: 'cpu <hot>' }, n: 3 },
};

const rule = (over: Partial<EngineRule> & { id: string }): EngineRule => ({
  enabled: true,
  priority: 100,
  sources: {},
  match: 'all',
  conditions: [],
  targets: [],
  stopProcessing: false,
  ...over,
});

describe('conditions', () => {
  it.each([
    [mail, 'subject', 'contains', 'critical', true],
    [mail, 'subject', 'contains', 'warning', false],
    [mail, 'subject', 'not_contains', 'warning', true],
    [mail, 'subject', 'not_contains', 'DISK', false],
    [mail, 'to', 'equals', 'OPS@example.com', true],
    [mail, 'to', 'equals', 'ops', false],
    [mail, 'from', 'regex', '^alerts.*example\\.com', true],
    [mail, 'subject', 'regex', 'db[0-9]+$', true],
    [mail, 'header:x-priority', 'equals', '1', true],
    [mail, 'header:X-Missing', 'exists', undefined, false],
    [mail, 'text', 'exists', undefined, true],
    [hook, 'body.alert.level', 'equals', 'HIGH', true],
    [hook, 'body.n', 'equals', '3', true],
    [hook, 'body.alert.missing', 'exists', undefined, false],
    [hook, 'body.alert', 'contains', '"level"', true],
    [hook, 'subject', 'not_contains', 'x', true],
    [mail, 'subject', 'regex', '(a+)+$', false],
  ] as const)('%#: %s %s %s %s → %s', (event, field, op, value, expected) => {
    expect(conditionMatches(event, { field, op, value })).toBe(expected);
  });
});

describe('regex guard (rejects nested quantifiers and back-references up front)', () => {
  it.each([
    ['(a+)+', true],
    ['(\\w*)*b', true],
    ['(x|y{2,})+', true],
    ['(a)\\1', true],
    ['(', true],
    ['^foo(bar)?$', false],
    ['(ab)+', false],
    ['[(+)]+', false],
    ['a+b*', false],
  ])('%s unsafe=%s', (pattern, unsafe) => {
    expect(unsafeRegexReason(pattern) !== null).toBe(unsafe);
  });
});

describe('evaluateRules', () => {
  it('returns matched rules in priority order and stops after stopProcessing', () => {
    const rules = [
      rule({ id: 'c', priority: 30 }),
      rule({
        id: 'a',
        priority: 10,
        conditions: [{ field: 'subject', op: 'contains', value: 'critical' }],
      }),
      rule({ id: 'b', priority: 20, stopProcessing: true }),
      rule({
        id: 'z',
        priority: 5,
        conditions: [{ field: 'subject', op: 'contains', value: 'nope' }],
      }),
    ];
    expect(evaluateRules(rules, mail).map((r) => r.id)).toEqual(['a', 'b']);
  });

  it('honours any/all, enabled and sources', () => {
    const conds = [
      { field: 'subject', op: 'contains', value: 'nope' },
      { field: 'subject', op: 'contains', value: 'disk' },
    ];
    const rules = [
      rule({ id: 'all', conditions: conds }),
      rule({ id: 'any', match: 'any', conditions: conds }),
      rule({ id: 'off', enabled: false }),
      rule({ id: 'mb2', sources: { mailboxIds: ['mb2'] } }),
      rule({ id: 'mb1', sources: { mailboxIds: ['mb1'] } }),
      rule({ id: 'hooks', sources: { webhookIds: ['wh1'] } }),
    ];
    expect(
      evaluateRules(rules, mail)
        .map((r) => r.id)
        .sort(),
    ).toEqual(['any', 'mb1']);
    expect(
      evaluateRules(rules, hook)
        .map((r) => r.id)
        .sort(),
    ).toEqual(['hooks']); // a webhook has no subject: neither subject condition holds
  });
});

describe('renderTemplate', () => {
  it('uses a default template with bold subject, sender and trimmed text, escaped', () => {
    const out = renderTemplate(null, { ...mail, subject: 'a <b> & c' });
    expect(out).toBe(
      '<b>a &lt;b&gt; &amp; c</b>\nFrom: Alerts &lt;alerts@example.com&gt;\n\nDisk /var is 99% full',
    );
  });

  it('reads body paths and mailbox, escaping by default', () => {
    expect(
      renderTemplate('{{mailbox}}: {{body.alert.name}} x{{body.n}} {{body.none}}', hook, {
        mailbox: 'M',
      }),
    ).toBe('M: cpu &lt;hot&gt; x3 ');
  });

  it('inserts {{{raw}}} unescaped for webhooks only, never for mail', () => {
    expect(renderTemplate('{{{body.alert.name}}}', hook)).toBe('cpu <hot>');
    expect(renderTemplate('{{{subject}}}', { ...mail, subject: '<i>x</i>' })).toBe(
      '&lt;i&gt;x&lt;/i&gt;',
    );
  });
});
