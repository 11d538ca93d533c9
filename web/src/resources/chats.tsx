import {
  AutocompleteArrayInput,
  Create,
  Edit,
  List,
  ReferenceArrayField,
  ReferenceArrayInput,
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
  useGetList,
  useTranslate,
} from 'react-admin';
import { Alert, Box, Link, Typography } from '@mui/material';
import { ResponsiveDatagrid } from '../components/ResponsiveDatagrid';
import { StatusChip } from '../components/StatusChip';
import { DateTimeField } from '../components/DateTime';
import { ListActions, ShowActions } from '../components/Actions';
import { CopyButton } from '../components/CopyButton';

export const chatTypeChoices = [
  { id: 'group', name: 'np.chats.type_group' },
  { id: 'supergroup', name: 'np.chats.type_supergroup' },
  { id: 'channel', name: 'np.chats.type_channel' },
  { id: 'private', name: 'np.chats.type_private' },
];

const chatFilters = [
  <SearchInput source="q" alwaysOn key="q" />,
  <SelectInput source="type" choices={chatTypeChoices} key="type" alwaysOn />,
  <ReferenceInput source="botId" reference="bots" key="botId">
    <AutocompleteInput optionText="name" />
  </ReferenceInput>,
];

export function ChatList() {
  return (
    <List
      actions={<ListActions resource="chats" filters />}
      filters={chatFilters}
      sort={{ field: 'title', order: 'ASC' }}
    >
      <ResponsiveDatagrid
        primaryText={(r) => r.title || r.telegramChatId}
        secondaryText={(r) => `${r.type ?? ''} · ${r.telegramChatId ?? ''}`}
        tertiaryText={(r) => r.status}
      >
        <TextField source="title" />
        <TextField source="telegramChatId" />
        <TextField source="type" />
        <StatusChip source="status" />
        <ReferenceArrayField source="botIds" reference="bots" sortable={false} />
      </ResponsiveDatagrid>
    </List>
  );
}

/** How a group or channel gets connected: add the bot (deep links per bot), or add by id. */
export function ConnectGroupHelp() {
  const translate = useTranslate();
  const { data: bots } = useGetList('bots', {
    pagination: { page: 1, perPage: 50 },
    sort: { field: 'name', order: 'ASC' },
  });
  return (
    <Alert severity="info" sx={{ mb: 2, maxWidth: 760 }}>
      <Typography variant="subtitle2">{translate('np.chats.help_title')}</Typography>
      <Box component="ol" sx={{ m: 0, pl: 2.5 }}>
        <li>{translate('np.chats.help_1')}</li>
        <li>{translate('np.chats.help_2')}</li>
        <li>{translate('np.chats.help_3')}</li>
        <li>{translate('np.chats.help_4')}</li>
      </Box>
      {(bots ?? [])
        .filter((b) => b.username)
        .map((b) => {
          const group = `https://t.me/${b.username}?startgroup=notifypro`;
          const dm = `https://t.me/${b.username}?start=notifypro`;
          return (
            <Box
              key={b.id}
              sx={{ mt: 1, display: 'flex', flexWrap: 'wrap', gap: 1, alignItems: 'center' }}
            >
              <strong>@{b.username}</strong>
              <Link href={group} target="_blank" rel="noreferrer">
                {translate('np.chats.add_to_group')}
              </Link>
              <CopyButton value={group} />
              <Link href={dm} target="_blank" rel="noreferrer">
                {translate('np.chats.start_private')}
              </Link>
              <CopyButton value={dm} />
            </Box>
          );
        })}
    </Alert>
  );
}

/** Telegram chat ids are integers; groups and channels are negative (`-100…`). */
export function validateTelegramChatId(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  // Numeric only: the API resolves chats by id (an @username is not accepted).
  return /^-?\d{1,16}$/.test(String(value).trim()) ? undefined : 'np.chats.id_invalid';
}

/** The API takes Telegram's chat id as a number (they fit in 52 bits); the input holds text. */
export const chatCreateTransform = (data: Record<string, unknown>) => ({
  ...data,
  telegramChatId: Number(String(data.telegramChatId ?? '').trim()),
  title: typeof data.title === 'string' && data.title.trim() ? data.title.trim() : undefined,
});

export function ChatCreate() {
  return (
    <Create redirect="show" transform={chatCreateTransform}>
      <SimpleForm defaultValues={{ botIds: [] }}>
        <ConnectGroupHelp />
        <TextInput
          source="telegramChatId"
          validate={[required(), validateTelegramChatId]}
          helperText="np.chats.id_help"
        />
        <TextInput source="title" />
        <ReferenceArrayInput source="botIds" reference="bots">
          <AutocompleteArrayInput optionText="name" validate={required()} sx={{ minWidth: 300 }} />
        </ReferenceArrayInput>
      </SimpleForm>
    </Create>
  );
}

export function ChatEdit() {
  return (
    <Edit mutationMode="pessimistic" redirect="show">
      <SimpleForm>
        <TextInput source="title" />
        <ReferenceArrayInput source="botIds" reference="bots">
          <AutocompleteArrayInput optionText="name" sx={{ minWidth: 300 }} />
        </ReferenceArrayInput>
      </SimpleForm>
    </Edit>
  );
}

export function ChatShow() {
  return (
    <Show actions={<ShowActions resource="chats" />}>
      <SimpleShowLayout>
        <TextField source="title" />
        <TextField source="telegramChatId" />
        <TextField source="type" />
        <StatusChip source="status" />
        <ReferenceArrayField source="botIds" reference="bots" />
        <DateTimeField source="createdAt" />
      </SimpleShowLayout>
    </Show>
  );
}
