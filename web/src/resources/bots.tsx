import { useState } from 'react';
import {
  Create,
  Edit,
  FunctionField,
  List,
  PasswordInput,
  ReferenceInput,
  AutocompleteInput,
  SearchInput,
  SelectInput,
  Show,
  SimpleForm,
  SimpleShowLayout,
  TextField,
  TextInput,
  required,
  useDataProvider,
  useNotify,
  useRecordContext,
  useRefresh,
  useTranslate,
  Form,
  SaveButton,
} from 'react-admin';
import {
  Alert,
  Box,
  Button,
  ButtonGroup,
  Card,
  CardContent,
  Link,
  Typography,
} from '@mui/material';
import PlayArrow from '@mui/icons-material/PlayArrow';
import Stop from '@mui/icons-material/Stop';
import RestartAlt from '@mui/icons-material/RestartAlt';
import { ResponsiveDatagrid } from '../components/ResponsiveDatagrid';
import { StatusChip } from '../components/StatusChip';
import { DateTimeField } from '../components/DateTime';
import { ListActions, ShowActions } from '../components/Actions';
import { useCan } from '../components/useCan';
import type { NotifyProDataProvider } from '../providers/dataProvider';

const modeChoices = [
  { id: 'polling', name: 'np.bots.mode_polling' },
  { id: 'webhook', name: 'np.bots.mode_webhook' },
];

/** Start, stop and restart through `POST …/bots/{id}/start|stop|restart`. */
export function BotControls() {
  const record = useRecordContext();
  const can = useCan('bots');
  const translate = useTranslate();
  const notify = useNotify();
  const refresh = useRefresh();
  const dataProvider = useDataProvider<NotifyProDataProvider>();
  const [busy, setBusy] = useState(false);
  if (!record || !can) return null;
  const act = (action: 'start' | 'stop' | 'restart') => async (e: React.MouseEvent) => {
    e.stopPropagation();
    setBusy(true);
    try {
      await dataProvider.action('bots', record.id, action);
      notify(`np.bots.done_${action}`, { type: 'info' });
      refresh();
    } catch (err) {
      notify((err as Error).message, { type: 'error' });
    } finally {
      setBusy(false);
    }
  };
  const running = record.status === 'running' || record.status === 'starting';
  return (
    <ButtonGroup
      size="small"
      variant="outlined"
      disabled={busy}
      onClick={(e) => e.stopPropagation()}
    >
      <Button startIcon={<PlayArrow />} onClick={act('start')} disabled={busy || running}>
        {translate('np.bots.start')}
      </Button>
      <Button
        startIcon={<Stop />}
        onClick={act('stop')}
        disabled={busy || record.status === 'stopped'}
      >
        {translate('np.bots.stop')}
      </Button>
      <Button startIcon={<RestartAlt />} onClick={act('restart')}>
        {translate('np.bots.restart')}
      </Button>
    </ButtonGroup>
  );
}

export function BotList() {
  return (
    <List
      actions={<ListActions resource="bots" />}
      filters={[<SearchInput source="q" alwaysOn key="q" />]}
      sort={{ field: 'name', order: 'ASC' }}
      queryOptions={{ refetchInterval: 10_000 }}
    >
      <ResponsiveDatagrid
        primaryText={(r) => r.name}
        secondaryText={(r) => (r.username ? `@${r.username}` : '')}
        tertiaryText={(r) => r.status}
      >
        <TextField source="name" />
        <FunctionField source="username" render={(r) => (r.username ? `@${r.username}` : '')} />
        <TextField source="mode" />
        <StatusChip source="status" />
        <DateTimeField source="lastHeartbeatAt" />
        <TextField source="lastError" emptyText="" />
        <BotControls />
      </ResponsiveDatagrid>
    </List>
  );
}

function BotFatherHelp() {
  const translate = useTranslate();
  return (
    <Alert severity="info" sx={{ mb: 2, maxWidth: 720 }}>
      <Typography variant="subtitle2">{translate('np.bots.help_title')}</Typography>
      <Box component="ol" sx={{ m: 0, pl: 2.5 }}>
        <li>
          {translate('np.bots.help_1')}{' '}
          <Link href="https://t.me/BotFather" target="_blank" rel="noreferrer">
            @BotFather
          </Link>
        </li>
        <li>{translate('np.bots.help_2')}</li>
        <li>{translate('np.bots.help_3')}</li>
        <li>{translate('np.bots.help_4')}</li>
      </Box>
    </Alert>
  );
}

export function BotCreate() {
  return (
    <Create redirect="show">
      <SimpleForm defaultValues={{ mode: 'polling' }}>
        <BotFatherHelp />
        <TextInput source="name" validate={required()} />
        <PasswordInput
          source="token"
          validate={[required(), validateTokenShape]}
          helperText="np.bots.token_help"
          fullWidth
          sx={{ maxWidth: 560 }}
        />
        <SelectInput source="mode" choices={modeChoices} helperText="np.bots.mode_help" />
      </SimpleForm>
    </Create>
  );
}

/** Bot tokens look like `123456:AA…`; catch a paste of the wrong thing before the round-trip. */
export function validateTokenShape(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return /^\d+:[\w-]{20,}$/.test(value.trim()) ? undefined : 'np.bots.token_invalid';
}

export function BotEdit() {
  return (
    <Edit mutationMode="pessimistic" redirect="show">
      <SimpleForm>
        <TextInput source="name" validate={required()} />
        <SelectInput source="mode" choices={modeChoices} />
        <PasswordInput
          source="token"
          helperText="np.bots.token_replace_help"
          validate={validateTokenShape}
        />
      </SimpleForm>
    </Edit>
  );
}

/** Sends a test message to one chat through this bot (`POST …/notifications` with `botId`). */
function TestMessageCard() {
  const record = useRecordContext();
  const translate = useTranslate();
  const notify = useNotify();
  const dataProvider = useDataProvider();
  const can = useCan('notifications');
  if (!record || !can) return null;
  const submit = async (values: Record<string, unknown>) => {
    try {
      await dataProvider.create('notifications', {
        data: {
          text: values.text,
          chatIds: [values.chatId],
          botId: record.id,
          format: 'text',
        },
      });
      notify('np.bots.test_sent', { type: 'success' });
    } catch (err) {
      notify((err as Error).message, { type: 'error' });
    }
  };
  return (
    <Card sx={{ mt: 2 }}>
      <CardContent>
        <Typography variant="h6">{translate('np.bots.test_message')}</Typography>
        <Form
          onSubmit={(v: Record<string, unknown>) => void submit(v)}
          defaultValues={{ text: translate('np.bots.test_text') }}
          record={{}}
        >
          <Box sx={{ display: 'flex', gap: 2, flexWrap: 'wrap', alignItems: 'flex-start' }}>
            <ReferenceInput source="chatId" reference="chats" filter={{ botId: record.id }}>
              <AutocompleteInput optionText="title" validate={required()} sx={{ minWidth: 240 }} />
            </ReferenceInput>
            <TextInput source="text" validate={required()} sx={{ minWidth: 240 }} />
            <SaveButton label="np.bots.send" alwaysEnable />
          </Box>
        </Form>
      </CardContent>
    </Card>
  );
}

export function BotShow() {
  return (
    <Show
      actions={
        <ShowActions resource="bots">
          <BotControls />
        </ShowActions>
      }
      queryOptions={{ refetchInterval: 5_000 }}
    >
      <SimpleShowLayout>
        <TextField source="name" />
        <FunctionField source="username" render={(r) => (r.username ? `@${r.username}` : '')} />
        <TextField source="telegramId" />
        <TextField source="mode" />
        <StatusChip source="status" />
        <DateTimeField source="lastHeartbeatAt" />
        <TextField source="lastError" emptyText="—" />
        <TextField source="tokenHint" />
      </SimpleShowLayout>
      <TestMessageCard />
    </Show>
  );
}
