import { useState } from 'react';
import {
  Create,
  Edit,
  List,
  NumberInput,
  PasswordInput,
  SearchInput,
  SelectInput,
  Show,
  SimpleForm,
  SimpleShowLayout,
  TextField,
  TextInput,
  NumberField,
  required,
  minValue,
  maxValue,
  useDataProvider,
  useRecordContext,
  useTranslate,
} from 'react-admin';
import { useFormContext, useWatch } from 'react-hook-form';
import {
  Alert,
  Box,
  Button,
  CircularProgress,
  MenuItem,
  TextField as MuiTextField,
} from '@mui/material';
import NetworkCheck from '@mui/icons-material/NetworkCheck';
import { FormRow } from '../components/FormRow';
import { ResponsiveDatagrid } from '../components/ResponsiveDatagrid';
import { StatusChip } from '../components/StatusChip';
import { DateTimeField } from '../components/DateTime';
import { ListActions, ShowActions } from '../components/Actions';
import { useCan } from '../components/useCan';
import type { NotifyProDataProvider } from '../providers/dataProvider';

type Protocol = 'imap' | 'pop3';
interface Endpoint {
  host: string;
  port: number;
  security: 'tls' | 'starttls' | 'none';
}

/** Provider presets: host, port and security per protocol. */
export const PROVIDER_PRESETS: Record<string, Partial<Record<Protocol, Endpoint>>> = {
  gmail: {
    imap: { host: 'imap.gmail.com', port: 993, security: 'tls' },
    pop3: { host: 'pop.gmail.com', port: 995, security: 'tls' },
  },
  outlook: {
    imap: { host: 'outlook.office365.com', port: 993, security: 'tls' },
    pop3: { host: 'outlook.office365.com', port: 995, security: 'tls' },
  },
  yandex: {
    imap: { host: 'imap.yandex.ru', port: 993, security: 'tls' },
    pop3: { host: 'pop.yandex.ru', port: 995, security: 'tls' },
  },
  mailru: {
    imap: { host: 'imap.mail.ru', port: 993, security: 'tls' },
    pop3: { host: 'pop.mail.ru', port: 995, security: 'tls' },
  },
  custom: {},
};

const protocolChoices = [
  { id: 'imap', name: 'IMAP' },
  { id: 'pop3', name: 'POP3' },
];
const securityChoices = [
  { id: 'tls', name: 'np.mailboxes.security_tls' },
  { id: 'starttls', name: 'np.mailboxes.security_starttls' },
  { id: 'none', name: 'np.mailboxes.security_none' },
];
const modeChoices = [
  { id: 'idle', name: 'np.mailboxes.mode_idle' },
  { id: 'poll', name: 'np.mailboxes.mode_poll' },
];

/** Picking a provider fills host, port and security for the chosen protocol. */
function PresetPicker() {
  const translate = useTranslate();
  const { setValue } = useFormContext();
  const protocol = (useWatch({ name: 'protocol' }) as Protocol | undefined) ?? 'imap';
  const [preset, setPreset] = useState('custom');
  const apply = (name: string, proto: Protocol) => {
    const endpoint = PROVIDER_PRESETS[name]?.[proto];
    if (!endpoint) return;
    setValue('host', endpoint.host, { shouldDirty: true });
    setValue('port', endpoint.port, { shouldDirty: true });
    setValue('security', endpoint.security, { shouldDirty: true });
  };
  return (
    <Box sx={{ mb: 1 }}>
      <MuiTextField
        select
        size="small"
        label={translate('np.mailboxes.provider')}
        value={preset}
        onChange={(e) => {
          setPreset(e.target.value);
          apply(e.target.value, protocol);
        }}
        sx={{ minWidth: 240 }}
        helperText={preset !== 'custom' ? translate(`np.mailboxes.preset_help_${preset}`) : ' '}
      >
        {Object.keys(PROVIDER_PRESETS).map((p) => (
          <MenuItem key={p} value={p}>
            {translate(`np.mailboxes.presets.${p}`)}
          </MenuItem>
        ))}
      </MuiTextField>
    </Box>
  );
}

function PollInterval() {
  const mode = useWatch({ name: 'mode' });
  const protocol = useWatch({ name: 'protocol' });
  if (mode !== 'poll' && protocol !== 'pop3') return null;
  return <NumberInput source="pollIntervalSeconds" validate={[minValue(10), maxValue(86400)]} />;
}

function MailboxFields({ create }: { create?: boolean }) {
  return (
    <>
      {create ? <PresetPicker /> : null}
      <TextInput source="name" validate={required()} />
      <FormRow>
        <SelectInput source="protocol" choices={protocolChoices} validate={required()} />
        <TextInput source="host" validate={required()} />
        <NumberInput source="port" validate={[required(), minValue(1), maxValue(65535)]} />
        <SelectInput source="security" choices={securityChoices} validate={required()} />
      </FormRow>
      <FormRow>
        <TextInput source="username" validate={required()} />
        <PasswordInput
          source="password"
          validate={create ? required() : undefined}
          helperText={create ? 'np.mailboxes.password_help' : 'np.mailboxes.password_replace_help'}
        />
      </FormRow>
      <FormRow>
        <TextInput source="folder" />
        <SelectInput source="mode" choices={modeChoices} />
        <PollInterval />
      </FormRow>
    </>
  );
}

export function MailboxList() {
  return (
    <List
      actions={<ListActions resource="mailboxes" />}
      filters={[<SearchInput source="q" alwaysOn key="q" />]}
      sort={{ field: 'name', order: 'ASC' }}
    >
      <ResponsiveDatagrid
        primaryText={(r) => r.name}
        secondaryText={(r) => `${r.username ?? ''} @ ${r.host ?? ''}`}
        tertiaryText={(r) => r.status}
      >
        <TextField source="name" />
        <TextField source="protocol" />
        <TextField source="host" />
        <TextField source="username" />
        <StatusChip source="status" />
        <DateTimeField source="lastMessageAt" />
        {/* the server sorts by name, protocol, host, username, status and lastMessageAt, not the error */}
        <TextField source="lastError" emptyText="" sortable={false} />
      </ResponsiveDatagrid>
    </List>
  );
}

export function MailboxCreate() {
  return (
    <Create redirect="show">
      <SimpleForm
        defaultValues={{
          protocol: 'imap',
          port: 993,
          security: 'tls',
          folder: 'INBOX',
          mode: 'idle',
          pollIntervalSeconds: 60,
        }}
      >
        <MailboxFields create />
      </SimpleForm>
    </Create>
  );
}

export function MailboxEdit() {
  return (
    <Edit mutationMode="pessimistic" redirect="show">
      <SimpleForm>
        <MailboxFields />
      </SimpleForm>
    </Edit>
  );
}

/** "Test connection": `POST …/mailboxes/{id}/test` → `{ok, error}` shown in place. */
export function TestConnectionButton() {
  const record = useRecordContext();
  const translate = useTranslate();
  const can = useCan('mailboxes');
  const dataProvider = useDataProvider<NotifyProDataProvider>();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; error?: string } | null>(null);
  if (!record || !can) return null;
  const run = async () => {
    setBusy(true);
    setResult(null);
    try {
      setResult(
        await dataProvider.action<{ ok: boolean; error?: string }>('mailboxes', record.id, 'test'),
      );
    } catch (err) {
      setResult({ ok: false, error: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };
  return (
    <Box sx={{ display: 'inline-flex', alignItems: 'center', gap: 1, flexWrap: 'wrap' }}>
      <Button
        size="small"
        startIcon={busy ? <CircularProgress size={16} /> : <NetworkCheck />}
        onClick={() => void run()}
        disabled={busy}
      >
        {translate('np.mailboxes.test')}
      </Button>
      {result ? (
        <Alert
          severity={result.ok ? 'success' : 'error'}
          sx={{ py: 0 }}
          data-testid="mailbox-test-result"
        >
          {result.ok
            ? translate('np.mailboxes.test_ok')
            : (result.error ?? translate('np.mailboxes.test_failed'))}
        </Alert>
      ) : null}
    </Box>
  );
}

export function MailboxShow() {
  return (
    <Show
      actions={
        <ShowActions resource="mailboxes">
          <TestConnectionButton />
        </ShowActions>
      }
      queryOptions={{ refetchInterval: 10_000 }}
    >
      <SimpleShowLayout>
        <TextField source="name" />
        <TextField source="protocol" />
        <TextField source="host" />
        <NumberField source="port" options={{ useGrouping: false }} />
        <TextField source="security" />
        <TextField source="username" />
        <TextField source="folder" />
        <TextField source="mode" />
        <StatusChip source="status" />
        <DateTimeField source="lastMessageAt" />
        <TextField source="lastError" emptyText="—" />
      </SimpleShowLayout>
    </Show>
  );
}
