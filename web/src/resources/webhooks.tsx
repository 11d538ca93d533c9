import { useState } from 'react';
import {
  Create,
  List,
  ReferenceManyField,
  Datagrid,
  SearchInput,
  Show,
  SimpleForm,
  SimpleShowLayout,
  TextField,
  TextInput,
  required,
  useRecordContext,
  useRedirect,
  useTranslate,
  type RaRecord,
  Labeled,
} from 'react-admin';
import { Box, Button, Card, CardContent, Typography } from '@mui/material';
import { ResponsiveDatagrid } from '../components/ResponsiveDatagrid';
import { DateTimeField } from '../components/DateTime';
import { ListActions, ShowActions } from '../components/Actions';
import { CopyButton } from '../components/CopyButton';
import { JsonBlock } from '../components/JsonBlock';
import { SecretValue } from '../components/SecretValue';

/** The hook URL as a caller outside sees it (the server may answer a path or a full URL). */
export function absoluteUrl(url: string): string {
  if (/^https?:\/\//.test(url)) return url;
  return `${window.location.origin}${url.startsWith('/') ? '' : '/'}${url}`;
}

export function curlExample(url: string): string {
  return [
    `curl -X POST '${absoluteUrl(url)}' \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d '{"subject": "Disk space low on db-1", "level": "critical", "host": "db-1"}'`,
  ].join('\n');
}

function WebhookUsage({ record }: { record: RaRecord }) {
  const translate = useTranslate();
  const url = String(record.url ?? (record.token ? `/hooks/${record.token}` : ''));
  if (!url) return null;
  const curl = curlExample(url);
  return (
    <Box>
      <SecretValue label={translate('np.webhooks.url')} value={absoluteUrl(url)} />
      <Typography variant="caption" color="text.secondary">
        {translate('np.webhooks.curl')}
      </Typography>
      <Box sx={{ position: 'relative' }}>
        <JsonBlock value={curl} />
        <Box sx={{ position: 'absolute', top: 4, right: 4 }}>
          <CopyButton value={curl} />
        </Box>
      </Box>
      <Typography variant="body2" color="text.secondary" sx={{ mt: 1 }}>
        {translate('np.webhooks.usage_help')}
      </Typography>
    </Box>
  );
}

function WebhookUsageField() {
  const record = useRecordContext();
  return record ? <WebhookUsage record={record} /> : null;
}

export function WebhookList() {
  return (
    <List
      actions={<ListActions resource="webhooks" />}
      filters={[<SearchInput source="q" alwaysOn key="q" />]}
      sort={{ field: 'createdAt', order: 'DESC' }}
    >
      <ResponsiveDatagrid primaryText={(r) => r.name} secondaryText={(r) => r.url}>
        <TextField source="name" />
        {/* the server sorts by name, enabled, lastCalledAt and createdAt, not by the URL (a secret) */}
        <TextField source="url" sortable={false} />
        <DateTimeField source="lastCalledAt" />
        <DateTimeField source="createdAt" />
      </ResponsiveDatagrid>
    </List>
  );
}

export function WebhookCreate() {
  const translate = useTranslate();
  const redirect = useRedirect();
  const [created, setCreated] = useState<RaRecord | null>(null);
  if (created) {
    return (
      <Card sx={{ mt: 2, maxWidth: 860 }}>
        <CardContent>
          <Typography variant="h6" gutterBottom>
            {translate('np.webhooks.created', { name: created.name })}
          </Typography>
          {created.token ? (
            <SecretValue
              label={translate('np.webhooks.token')}
              value={String(created.token)}
              warning={translate('np.webhooks.token_once')}
            />
          ) : null}
          <WebhookUsage record={created} />
          <Button
            variant="contained"
            sx={{ mt: 2 }}
            onClick={() => redirect('show', 'webhooks', created.id)}
          >
            {translate('np.common.done')}
          </Button>
        </CardContent>
      </Card>
    );
  }
  return (
    <Create mutationOptions={{ onSuccess: (data: RaRecord) => setCreated(data) }}>
      <SimpleForm>
        <TextInput source="name" validate={required()} />
      </SimpleForm>
    </Create>
  );
}

export function WebhookShow() {
  return (
    <Show actions={<ShowActions resource="webhooks" />}>
      <SimpleShowLayout>
        <TextField source="name" />
        <WebhookUsageField />
        <DateTimeField source="createdAt" />
        <Labeled label="np.webhooks.recent_calls" fullWidth>
          <ReferenceManyField
            reference="events"
            target="webhookId"
            perPage={10}
            sort={{ field: 'receivedAt', order: 'DESC' }}
          >
            <Datagrid
              bulkActionButtons={false}
              rowClick={(id) => `/events/${id}/show`}
              empty={<EmptyCalls />}
            >
              <DateTimeField source="receivedAt" label="resources.events.fields.createdAt" />
              <TextField source="subject" label="resources.events.fields.subject" emptyText="" />
            </Datagrid>
          </ReferenceManyField>
        </Labeled>
      </SimpleShowLayout>
    </Show>
  );
}

function EmptyCalls() {
  const translate = useTranslate();
  return <Typography variant="body2">{translate('np.webhooks.no_calls')}</Typography>;
}
