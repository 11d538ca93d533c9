import {
  ArrayField,
  Datagrid,
  FunctionField,
  List,
  Labeled,
  ReferenceArrayField,
  ReferenceField,
  SearchInput,
  SelectInput,
  Show,
  SimpleShowLayout,
  TextField,
  useRecordContext,
  useTranslate,
} from 'react-admin';
import { Box, Chip, Table, TableBody, TableCell, TableRow, Typography } from '@mui/material';
import { ResponsiveDatagrid } from '../components/ResponsiveDatagrid';
import { DateTimeField } from '../components/DateTime';
import { JsonBlock } from '../components/JsonBlock';
import { SourceField, useSourceLabel } from '../components/SourceField';
import { StatusChip } from '../components/StatusChip';

const sourceChoices = ['mail', 'webhook', 'api'].map((id) => ({
  id,
  name: `np.events.source_${id}`,
}));

/** Matched rules as ids (`matchedRuleIds`) or objects (`matchedRules: [{id|ruleId, name}]`). */
export function matchedRuleIds(record: Record<string, unknown> | undefined): string[] {
  if (!record) return [];
  if (Array.isArray(record.matchedRuleIds)) return record.matchedRuleIds.map(String);
  if (Array.isArray(record.matchedRules))
    return record.matchedRules.map((r: unknown) =>
      typeof r === 'object' && r !== null
        ? String((r as { id?: unknown; ruleId?: unknown }).id ?? (r as { ruleId?: unknown }).ruleId)
        : String(r),
    );
  return [];
}

/** The subject, else (a webhook call without one) the source's name, else the id. */
const eventTitle = (r: Record<string, unknown>, sourceLabel: (v: unknown) => string) =>
  String(
    r.subject ?? r.summary ?? r.title ?? (r.source === 'webhook' ? sourceLabel(r.source) : r.id),
  );

/** A red chip on events that could not be read (unparseable mail), with the error as its tooltip. */
function ErrorChip(_props: { source: string; sortable?: boolean }) {
  const record = useRecordContext();
  const translate = useTranslate();
  if (!record?.error) return null;
  return (
    <Chip
      size="small"
      color="error"
      label={translate('np.status.error')}
      title={String(record.error)}
    />
  );
}

export function EventList() {
  const sourceLabel = useSourceLabel();
  const title = (r: Record<string, unknown>) => eventTitle(r, sourceLabel);
  return (
    <List
      filters={[
        <SearchInput source="q" alwaysOn key="q" />,
        <SelectInput source="source" choices={sourceChoices} key="source" alwaysOn />,
      ]}
      sort={{ field: 'receivedAt', order: 'DESC' }}
    >
      <ResponsiveDatagrid
        primaryText={title}
        secondaryText={(r) => `${sourceLabel(r.source)} · ${r.sender ?? ''}`}
        tertiaryText={(r) => r.receivedAt}
      >
        <DateTimeField
          source="receivedAt"
          label="resources.events.fields.createdAt"
          sortable={false}
        />
        <SourceField source="source" sortable={false} />
        <FunctionField source="subject" render={title} sortable={false} />
        <TextField
          source="sender"
          label="resources.events.fields.from"
          emptyText=""
          sortable={false}
        />
        <FunctionField
          source="matchedRules"
          sortable={false}
          render={(r) => matchedRuleIds(r).length}
        />
        <ErrorChip source="error" sortable={false} />
      </ResponsiveDatagrid>
    </List>
  );
}

function HeadersTable() {
  const record = useRecordContext();
  const translate = useTranslate();
  const raw = (record?.payload as Record<string, unknown> | undefined)?.headers;
  const rows: [string, string][] = Array.isArray(raw)
    ? raw.map((h: { name?: string; key?: string; value?: unknown }) => [
        String(h.name ?? h.key ?? ''),
        String(h.value ?? ''),
      ])
    : raw && typeof raw === 'object'
      ? Object.entries(raw as Record<string, unknown>).map(([k, v]) => [
          k,
          Array.isArray(v) ? v.join(', ') : String(v),
        ])
      : [];
  if (rows.length === 0) return null;
  return (
    <Labeled label={translate('resources.events.fields.headers')} fullWidth>
      <Box sx={{ overflowX: 'auto', maxHeight: 320 }}>
        <Table size="small">
          <TableBody>
            {rows.map(([k, v], i) => (
              <TableRow key={i}>
                <TableCell sx={{ fontWeight: 600, whiteSpace: 'nowrap', verticalAlign: 'top' }}>
                  {k}
                </TableCell>
                <TableCell sx={{ wordBreak: 'break-word' }}>{v}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </Box>
    </Labeled>
  );
}

function MatchedRules() {
  const record = useRecordContext();
  const translate = useTranslate();
  const ids = matchedRuleIds(record);
  if (ids.length === 0)
    return <Typography variant="body2">{translate('np.events.no_rules')}</Typography>;
  return (
    <ReferenceArrayField
      record={{ id: record!.id, ids }}
      source="ids"
      reference="rules"
      label="resources.events.fields.matchedRules"
    />
  );
}

function BodyBlock() {
  const record = useRecordContext();
  const translate = useTranslate();
  if (!record) return null;
  const payload = (record.payload ?? {}) as Record<string, unknown>;
  return (
    <>
      {payload.text ? (
        <Labeled label={translate('resources.events.fields.text')} fullWidth>
          <JsonBlock value={String(payload.text)} />
        </Labeled>
      ) : null}
      {payload.body !== undefined && payload.body !== null ? (
        <Labeled label={translate('resources.events.fields.body')} fullWidth>
          <JsonBlock value={payload.body} />
        </Labeled>
      ) : null}
      {record.error ? (
        <Labeled label={translate('resources.events.fields.error')} fullWidth>
          <JsonBlock value={String(record.error)} />
        </Labeled>
      ) : null}
    </>
  );
}

export function EventShow() {
  return (
    <Show>
      <SimpleShowLayout>
        <DateTimeField source="receivedAt" label="resources.events.fields.createdAt" />
        <SourceField source="source" />
        <ReferenceField source="mailboxId" reference="mailboxes" link="show" emptyText="—" />
        <ReferenceField source="webhookId" reference="webhooks" link="show" emptyText="—" />
        <TextField source="sender" label="resources.events.fields.from" emptyText="—" />
        <TextField source="payload.to" label="resources.events.fields.to" emptyText="—" />
        <TextField source="subject" emptyText="—" />
        <HeadersTable />
        <BodyBlock />
        <Labeled label="resources.events.fields.matchedRules">
          <MatchedRules />
        </Labeled>
        <ArrayField source="deliveries" emptyText="—">
          <Datagrid
            bulkActionButtons={false}
            rowClick={(_id, _resource, r) => `/notifications/${r.notificationId}/show`}
            empty={<span>—</span>}
          >
            <StatusChip source="status" />
            <ReferenceField source="chatId" reference="chats" link={false} />
            <ReferenceField source="botId" reference="bots" link={false} emptyText="—" />
            <ReferenceField source="ruleId" reference="rules" link={false} emptyText="—" />
          </Datagrid>
        </ArrayField>
      </SimpleShowLayout>
    </Show>
  );
}
