import { Chip, type ChipProps } from '@mui/material';
import { useRecordContext, useTranslate } from 'react-admin';

const COLORS: Record<string, ChipProps['color']> = {
  running: 'success',
  active: 'success',
  sent: 'success',
  ok: 'success',
  enabled: 'success',
  info: 'info',
  starting: 'info',
  queued: 'info',
  sending: 'info',
  stopped: 'default',
  inactive: 'default',
  debug: 'default',
  warn: 'warning',
  warning: 'warning',
  failed: 'warning',
  error: 'error',
  dead: 'error',
  fatal: 'error',
};

/** A coloured chip for a status-like value; the label is translated under `np.status.*`. */
export function StatusChip({ source = 'status' }: { source?: string; label?: string }) {
  const record = useRecordContext();
  const translate = useTranslate();
  const value = record?.[source];
  if (value === undefined || value === null || value === '') return null;
  const v = String(value);
  return (
    <Chip
      size="small"
      color={COLORS[v] ?? 'default'}
      label={translate(`np.status.${v}`, { _: v })}
      data-testid={`status-${v}`}
    />
  );
}
