import { useRecordContext, useTranslate } from 'react-admin';

/** Where an event or notification came from (`mail`, `webhook`, `api`), in the user's language. */
export function useSourceLabel(): (value: unknown) => string {
  const translate = useTranslate();
  return (value) =>
    value === undefined || value === null || value === ''
      ? ''
      : // a source this version does not know yet is shown as the server sent it
        translate(`np.events.source_${String(value)}`, { _: String(value) });
}

/** The record's source as a translated label (`source` names the field, `source` by default). */
export function SourceField({
  source = 'source',
  emptyText,
}: {
  source?: string;
  label?: string;
  sortable?: boolean;
  emptyText?: string;
}) {
  const record = useRecordContext();
  const label = useSourceLabel();
  const text = label(record?.[source]);
  if (!text) return emptyText ? <span>{emptyText}</span> : null;
  return <span data-testid="event-source">{text}</span>;
}
