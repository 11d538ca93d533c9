import { useLocale, useRecordContext } from 'react-admin';
import { Typography } from '@mui/material';
import { useUiSettings } from '../providers/orgSettings';

/** Formats an ISO timestamp in the organization's time zone and the UI language. */
export function useFormatDateTime(): (value: unknown) => string {
  const { timeZone } = useUiSettings();
  const locale = useLocale();
  return (value: unknown) => {
    if (value === undefined || value === null || value === '') return '';
    const d = new Date(String(value));
    if (Number.isNaN(d.getTime())) return String(value);
    try {
      return d.toLocaleString(locale, {
        timeZone: timeZone || undefined,
        dateStyle: 'short',
        timeStyle: 'medium',
      });
    } catch {
      return d.toLocaleString(locale);
    }
  };
}

export function DateTimeField({ source }: { source: string; label?: string; sortable?: boolean }) {
  const record = useRecordContext();
  const format = useFormatDateTime();
  const text = format(record?.[source]);
  return (
    <Typography component="span" variant="body2" sx={{ whiteSpace: 'nowrap' }}>
      {text || '—'}
    </Typography>
  );
}
