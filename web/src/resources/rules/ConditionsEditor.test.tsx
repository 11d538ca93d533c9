import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { ConditionsEditor, validateConditions } from './ConditionsEditor';
import { joinField, splitField, type Condition } from './conditions';

afterEach(cleanup);

/** The editor with its state held the way a form field holds it; every change is recorded. */
function Harness({
  initial = [],
  onChange,
}: {
  initial?: Condition[];
  onChange: (c: Condition[]) => void;
}) {
  const [value, setValue] = useState<Condition[]>(initial);
  return (
    <ConditionsEditor
      value={value}
      onChange={(next) => {
        setValue(next);
        onChange(next);
      }}
    />
  );
}

const last = (spy: ReturnType<typeof vi.fn>) => spy.mock.calls.at(-1)?.[0] as Condition[];
const addButton = () => screen.getByRole('button', { name: 'np.rules.add_condition' });

describe('ConditionsEditor', () => {
  it('adds a subject-contains condition with an empty value', () => {
    const spy = vi.fn();
    render(<Harness onChange={spy} />);
    fireEvent.click(addButton());
    expect(last(spy)).toEqual([{ field: 'subject', op: 'contains', value: '' }]);
  });

  it('builds header:<Name> and body.<path> fields and drops the value for exists', () => {
    const spy = vi.fn();
    render(<Harness onChange={spy} />);
    fireEvent.click(addButton());
    fireEvent.change(screen.getByTestId('cond-0-kind'), { target: { value: 'header' } });
    fireEvent.change(screen.getByTestId('cond-0-name'), { target: { value: 'X-Priority' } });
    fireEvent.change(screen.getByTestId('cond-0-op'), { target: { value: 'equals' } });
    fireEvent.change(screen.getByTestId('cond-0-value'), { target: { value: '1' } });

    fireEvent.click(addButton());
    fireEvent.change(screen.getByTestId('cond-1-kind'), { target: { value: 'body' } });
    fireEvent.change(screen.getByTestId('cond-1-name'), { target: { value: 'alert.level' } });
    fireEvent.change(screen.getByTestId('cond-1-op'), { target: { value: 'exists' } });

    expect(screen.queryByTestId('cond-1-value')).toBeNull();
    expect(last(spy)).toEqual([
      { field: 'header:X-Priority', op: 'equals', value: '1' },
      { field: 'body.alert.level', op: 'exists' },
    ]);
  });

  it('removes the chosen condition and keeps the others in order', () => {
    const spy = vi.fn();
    render(
      <Harness
        onChange={spy}
        initial={[
          { field: 'from', op: 'contains', value: '@bank.example' },
          { field: 'subject', op: 'regex', value: '^ALERT' },
          { field: 'to', op: 'not_contains', value: 'noreply' },
        ]}
      />,
    );
    fireEvent.click(screen.getByTestId('cond-1-remove'));
    expect(last(spy)).toEqual([
      { field: 'from', op: 'contains', value: '@bank.example' },
      { field: 'to', op: 'not_contains', value: 'noreply' },
    ]);
    fireEvent.click(screen.getByTestId('cond-0-remove'));
    fireEvent.click(screen.getByTestId('cond-0-remove'));
    expect(last(spy)).toEqual([]);
  });

  it('shows existing conditions split into kind, name, operator and value', () => {
    render(
      <Harness
        onChange={vi.fn()}
        initial={[{ field: 'header:List-Id', op: 'regex', value: 'ops' }]}
      />,
    );
    expect((screen.getByTestId('cond-0-kind') as HTMLSelectElement).value).toBe('header');
    expect((screen.getByTestId('cond-0-name') as HTMLInputElement).value).toBe('List-Id');
    expect((screen.getByTestId('cond-0-op') as HTMLSelectElement).value).toBe('regex');
    expect((screen.getByTestId('cond-0-value') as HTMLInputElement).value).toBe('ops');
  });
});

describe('condition fields and validation', () => {
  it('round-trips field names', () => {
    for (const f of ['from', 'to', 'subject', 'text', 'header:X-Mailer', 'body.a.b']) {
      const { kind, name } = splitField(f);
      expect(joinField(kind, name)).toBe(f);
    }
  });

  it('rejects a bad regex, a missing header name and an empty value', () => {
    expect(validateConditions([{ field: 'subject', op: 'regex', value: '(' }])).toBe(
      'np.rules.errors.bad_regex',
    );
    expect(validateConditions([{ field: 'header:', op: 'exists' }])).toBe(
      'np.rules.errors.field_name',
    );
    expect(validateConditions([{ field: 'from', op: 'equals', value: '' }])).toBe(
      'np.rules.errors.value_required',
    );
    expect(validateConditions([{ field: 'body.x', op: 'exists' }])).toBeUndefined();
  });
});
