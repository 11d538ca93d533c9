import { useMemo } from 'react';
import {
  ArrayField,
  AutocompleteArrayInput,
  AutocompleteInput,
  Create,
  Datagrid,
  FunctionField,
  List,
  NumberField,
  ReferenceArrayInput,
  ReferenceField,
  ReferenceInput,
  SearchInput,
  SelectInput,
  Show,
  SimpleForm,
  SimpleShowLayout,
  TextField,
  TextInput,
  required,
  maxLength,
  useTranslate,
} from 'react-admin';
import { useWatch } from 'react-hook-form';
import { Box, Typography } from '@mui/material';
import { ResponsiveDatagrid } from '../components/ResponsiveDatagrid';
import { SourceField } from '../components/SourceField';
import { StatusChip } from '../components/StatusChip';
import { DateTimeField } from '../components/DateTime';
import { ListActions } from '../components/Actions';
import { MessagePreview, type MessageFormat } from './rules/TelegramPreview';
import { RetryButton } from './deliveries';

const formatChoices = [
  { id: 'text', name: 'np.notifications.format_text' },
  { id: 'html', name: 'np.notifications.format_html' },
  { id: 'markdown', name: 'np.notifications.format_markdown' },
];

function SendPreview() {
  const translate = useTranslate();
  const text = (useWatch({ name: 'text' }) as string | undefined) ?? '';
  const format = (useWatch({ name: 'format' }) as MessageFormat | undefined) ?? 'text';
  return (
    <Box sx={{ flex: 1, minWidth: 0 }}>
      <Typography variant="subtitle2" gutterBottom>
        {translate('np.rules.preview')}
      </Typography>
      <MessagePreview text={text} format={format} />
    </Box>
  );
}

const summarize = (text: unknown) => {
  const s = String(text ?? '');
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
};

export function NotificationList() {
  return (
    <List
      actions={<ListActions resource="notifications" />}
      filters={[<SearchInput source="q" alwaysOn key="q" />]}
      sort={{ field: 'createdAt', order: 'DESC' }}
    >
      <ResponsiveDatagrid
        primaryText={(r) => summarize(r.text)}
        secondaryText={(r) => r.status ?? ''}
        tertiaryText={(r) => r.createdAt}
      >
        <DateTimeField source="createdAt" />
        <FunctionField source="text" render={(r) => summarize(r.text)} sortable={false} />
        <TextField source="format" />
        <SourceField source="source" />
        <StatusChip source="status" />
        <FunctionField
          source="deliveries"
          sortable={false}
          render={(r) =>
            Array.isArray(r.deliveries) ? r.deliveries.length : (r.deliveryCount ?? '')
          }
        />
      </ResponsiveDatagrid>
    </List>
  );
}

export function NotificationCreate() {
  // One key per opened form: a double click or a retry after a timeout sends one notification.
  const idempotencyKey = useMemo(
    () => globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random()}`,
    [],
  );
  return (
    <Create
      redirect="show"
      transform={(data) => ({ ...data, botId: data.botId || undefined, idempotencyKey })}
    >
      <SimpleForm defaultValues={{ format: 'text', chatIds: [] }}>
        <Box
          sx={{
            display: 'flex',
            gap: 3,
            width: '100%',
            flexDirection: { xs: 'column', md: 'row' },
          }}
        >
          <Box sx={{ flex: 1, minWidth: 0 }}>
            <ReferenceArrayInput source="chatIds" reference="chats" filter={{}}>
              <AutocompleteArrayInput optionText="title" validate={required()} fullWidth />
            </ReferenceArrayInput>
            <TextInput
              source="text"
              multiline
              minRows={5}
              fullWidth
              validate={[required(), maxLength(4096)]}
            />
            <SelectInput source="format" choices={formatChoices} />
            <ReferenceInput source="botId" reference="bots">
              <AutocompleteInput optionText="name" helperText="np.notifications.bot_help" />
            </ReferenceInput>
          </Box>
          <SendPreview />
        </Box>
      </SimpleForm>
    </Create>
  );
}

export function NotificationShow() {
  return (
    <Show queryOptions={{ refetchInterval: 5_000 }}>
      <SimpleShowLayout>
        <DateTimeField source="createdAt" />
        <TextField source="format" />
        <SourceField source="source" emptyText="—" />
        <FunctionField
          source="text"
          render={(r) => (
            <MessagePreview
              text={String(r.text ?? '')}
              format={(r.format as MessageFormat) ?? 'text'}
            />
          )}
        />
        <ArrayField source="deliveries">
          <Datagrid bulkActionButtons={false} rowClick={(id) => `/deliveries/${id}/show`}>
            <StatusChip source="status" />
            <ReferenceField source="chatId" reference="chats" link="show" />
            <ReferenceField source="botId" reference="bots" link="show" />
            <NumberField source="attempts" />
            <TextField source="lastError" emptyText="" />
            <RetryButton />
          </Datagrid>
        </ArrayField>
      </SimpleShowLayout>
    </Show>
  );
}
