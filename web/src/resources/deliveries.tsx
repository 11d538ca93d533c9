import { useState } from 'react';
import {
  FunctionField,
  AutocompleteInput,
  List,
  ReferenceField,
  ReferenceInput,
  SelectInput,
  Show,
  SimpleShowLayout,
  TextField,
  NumberField,
  useDataProvider,
  useNotify,
  useRecordContext,
  useRefresh,
  useTranslate,
  TopToolbar,
} from 'react-admin';
import { Button } from '@mui/material';
import Replay from '@mui/icons-material/Replay';
import { ResponsiveDatagrid } from '../components/ResponsiveDatagrid';
import { StatusChip } from '../components/StatusChip';
import { DateTimeField } from '../components/DateTime';
import { useCan } from '../components/useCan';
import type { NotifyProDataProvider } from '../providers/dataProvider';

export const deliveryStatusChoices = ['queued', 'sending', 'sent', 'failed', 'dead'].map((id) => ({
  id,
  name: `np.status.${id}`,
}));

/** Retry of a failed or dead delivery: `POST …/deliveries/{id}/retry`. */
export function RetryButton() {
  const record = useRecordContext();
  const can = useCan('deliveries');
  const translate = useTranslate();
  const notify = useNotify();
  const refresh = useRefresh();
  const dataProvider = useDataProvider<NotifyProDataProvider>();
  const [busy, setBusy] = useState(false);
  if (!record || !can || (record.status !== 'failed' && record.status !== 'dead')) return null;
  return (
    <Button
      size="small"
      startIcon={<Replay />}
      disabled={busy}
      onClick={async (e) => {
        e.stopPropagation();
        setBusy(true);
        try {
          await dataProvider.action('deliveries', record.id, 'retry');
          notify('np.deliveries.retried', { type: 'info' });
          refresh();
        } catch (err) {
          notify((err as Error).message, { type: 'error' });
        } finally {
          setBusy(false);
        }
      }}
    >
      {translate('np.deliveries.retry')}
    </Button>
  );
}

const filters = [
  <SelectInput source="status" choices={deliveryStatusChoices} alwaysOn key="status" />,
  <ReferenceInput source="chatId" reference="chats" alwaysOn key="chatId">
    <AutocompleteInput optionText="title" />
  </ReferenceInput>,
  <ReferenceInput source="botId" reference="bots" key="botId">
    <AutocompleteInput optionText="name" />
  </ReferenceInput>,
];

export function DeliveryList() {
  return (
    <List
      filters={filters}
      sort={{ field: 'createdAt', order: 'DESC' }}
      queryOptions={{ refetchInterval: 10_000 }}
    >
      <ResponsiveDatagrid
        primaryText={(r) => `${r.status} · ${r.chatId}`}
        secondaryText={(r) => r.lastError ?? r.error ?? ''}
        tertiaryText={(r) => r.createdAt}
      >
        <DateTimeField source="createdAt" />
        <StatusChip source="status" />
        <ReferenceField source="chatId" reference="chats" link="show" />
        <ReferenceField source="botId" reference="bots" link="show" />
        <ReferenceField
          source="notificationId"
          reference="notifications"
          link="show"
          emptyText="—"
        />
        <NumberField source="attempts" />
        <TextField source="lastError" emptyText="" />
        <DateTimeField source="sentAt" />
        <RetryButton />
      </ResponsiveDatagrid>
    </List>
  );
}

export function DeliveryShow() {
  return (
    <Show
      actions={
        <TopToolbar>
          <RetryButton />
        </TopToolbar>
      }
    >
      <SimpleShowLayout>
        <StatusChip source="status" />
        <ReferenceField source="chatId" reference="chats" link="show" />
        <ReferenceField source="botId" reference="bots" link="show" />
        <ReferenceField
          source="notificationId"
          reference="notifications"
          link="show"
          emptyText="—"
        />
        <NumberField source="attempts" />
        <FunctionField
          source="telegramMessageIds"
          render={(r) =>
            Array.isArray(r.telegramMessageIds) && r.telegramMessageIds.length
              ? r.telegramMessageIds.join(', ')
              : '—'
          }
        />
        <TextField source="lastError" emptyText="—" />
        <DateTimeField source="createdAt" />
        <DateTimeField source="sentAt" />
      </SimpleShowLayout>
    </Show>
  );
}
