/** The visual editor of a rule's conditions list (controlled: value in, new JSON out). */
import { Box, Button, IconButton, Paper, TextField, Tooltip } from '@mui/material';
import Add from '@mui/icons-material/Add';
import Delete from '@mui/icons-material/Delete';
import { useInput, useTranslate } from 'react-admin';
import {
  FIELD_KINDS,
  NEW_CONDITION,
  OPS,
  joinField,
  normalizeCondition,
  splitField,
  type Condition,
  type ConditionOp,
  type FieldKind,
} from './conditions';

export interface ConditionsEditorProps {
  value: Condition[];
  onChange: (next: Condition[]) => void;
  disabled?: boolean;
  errors?: Record<number, string | undefined>;
}

export function ConditionsEditor({ value, onChange, disabled, errors }: ConditionsEditorProps) {
  const translate = useTranslate();
  const list = Array.isArray(value) ? value : [];

  const replace = (index: number, next: Condition) =>
    onChange(list.map((c, i) => (i === index ? normalizeCondition(next) : normalizeCondition(c))));

  return (
    <Box sx={{ width: '100%' }} data-testid="conditions-editor">
      {list.map((condition, index) => {
        const { kind, name } = splitField(condition.field);
        const rowLabel = translate('np.rules.condition_n', { n: index + 1 });
        return (
          <Paper
            key={index}
            variant="outlined"
            role="group"
            aria-label={rowLabel}
            sx={{
              p: 1,
              mb: 1,
              display: 'flex',
              flexWrap: 'wrap',
              gap: 1,
              alignItems: 'flex-start',
            }}
          >
            <TextField
              fullWidth={false}
              select
              size="small"
              label={translate('np.rules.field')}
              value={kind}
              disabled={disabled}
              slotProps={{
                select: { native: true },
                htmlInput: { 'data-testid': `cond-${index}-kind` },
              }}
              onChange={(e) =>
                replace(index, {
                  ...condition,
                  field: joinField(
                    e.target.value as FieldKind,
                    kind === e.target.value ? name : '',
                  ),
                })
              }
              sx={{ minWidth: 140 }}
            >
              {FIELD_KINDS.map((k) => (
                <option key={k} value={k}>
                  {translate(`np.rules.fields.${k}`)}
                </option>
              ))}
            </TextField>
            {kind === 'header' || kind === 'body' ? (
              <TextField
                fullWidth={false}
                size="small"
                label={translate(kind === 'header' ? 'np.rules.header_name' : 'np.rules.body_path')}
                placeholder={kind === 'header' ? 'X-Priority' : 'alert.level'}
                value={name}
                disabled={disabled}
                slotProps={{ htmlInput: { 'data-testid': `cond-${index}-name` } }}
                onChange={(e) =>
                  replace(index, { ...condition, field: joinField(kind, e.target.value) })
                }
                sx={{ minWidth: 140 }}
              />
            ) : null}
            <TextField
              fullWidth={false}
              select
              size="small"
              label={translate('np.rules.op')}
              value={condition.op}
              disabled={disabled}
              slotProps={{
                select: { native: true },
                htmlInput: { 'data-testid': `cond-${index}-op` },
              }}
              onChange={(e) => replace(index, { ...condition, op: e.target.value as ConditionOp })}
              sx={{ minWidth: 150 }}
            >
              {OPS.map((op) => (
                <option key={op} value={op}>
                  {translate(`np.rules.ops.${op}`)}
                </option>
              ))}
            </TextField>
            {condition.op !== 'exists' ? (
              <TextField
                fullWidth={false}
                size="small"
                label={translate('np.rules.value')}
                value={condition.value ?? ''}
                disabled={disabled}
                error={Boolean(errors?.[index])}
                helperText={
                  errors?.[index] ??
                  (condition.op === 'regex' ? translate('np.rules.regex_help') : undefined)
                }
                slotProps={{ htmlInput: { 'data-testid': `cond-${index}-value` } }}
                onChange={(e) => replace(index, { ...condition, value: e.target.value })}
                sx={{ flex: 1, minWidth: 160 }}
              />
            ) : (
              <Box sx={{ flex: 1 }} />
            )}
            <Tooltip title={translate('np.rules.remove_condition')}>
              <span>
                <IconButton
                  aria-label={translate('np.rules.remove_condition')}
                  data-testid={`cond-${index}-remove`}
                  disabled={disabled}
                  onClick={() =>
                    onChange(list.filter((_, i) => i !== index).map(normalizeCondition))
                  }
                >
                  <Delete />
                </IconButton>
              </span>
            </Tooltip>
          </Paper>
        );
      })}
      <Button
        startIcon={<Add />}
        disabled={disabled}
        onClick={() => onChange([...list.map(normalizeCondition), { ...NEW_CONDITION }])}
      >
        {translate('np.rules.add_condition')}
      </Button>
    </Box>
  );
}

/** Validates conditions before submit: a header or body field needs a name, a regex must compile. */
export function validateConditions(value: unknown): string | undefined {
  if (!Array.isArray(value)) return undefined;
  for (const c of value as Condition[]) {
    if (c.field === 'header:' || c.field === 'body') return 'np.rules.errors.field_name';
    if (c.op === 'regex') {
      try {
        new RegExp(c.value ?? '');
      } catch {
        return 'np.rules.errors.bad_regex';
      }
    }
    if (c.op !== 'exists' && (c.value ?? '') === '') return 'np.rules.errors.value_required';
  }
  return undefined;
}

/** The conditions editor bound to a react-admin form field. */
export function ConditionsInput({ source = 'conditions' }: { source?: string }) {
  const translate = useTranslate();
  const { field, fieldState } = useInput({
    source,
    validate: validateConditions,
    defaultValue: [],
  });
  // Server errors arrive as `conditions.N.value`; client ones as a whole-list message.
  const itemErrors: Record<number, string | undefined> = {};
  const err = fieldState.error as unknown as
    | {
        message?: string;
        [k: number]: { value?: { message?: string }; field?: { message?: string } };
      }
    | undefined;
  if (err && typeof err === 'object') {
    for (const [k, v] of Object.entries(err)) {
      if (/^\d+$/.test(k) && v && typeof v === 'object') {
        const item = v as {
          value?: { message?: string };
          field?: { message?: string };
          op?: { message?: string };
        };
        itemErrors[Number(k)] = item.value?.message ?? item.field?.message ?? item.op?.message;
      }
    }
  }
  return (
    <Box sx={{ width: '100%' }}>
      <ConditionsEditor value={field.value ?? []} onChange={field.onChange} errors={itemErrors} />
      {err?.message ? (
        <Box sx={{ color: 'error.main', fontSize: 12, ml: 1 }} role="alert">
          {translate(err.message, { _: err.message })}
        </Box>
      ) : null}
    </Box>
  );
}
