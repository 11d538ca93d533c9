import {
  ArrayField,
  ArrayInput,
  Datagrid,
  ReferenceArrayField,
  ReferenceField,
  Show,
  SimpleShowLayout,
  useRecordContext,
  AutocompleteArrayInput,
  AutocompleteInput,
  BooleanField,
  BooleanInput,
  Create,
  Edit,
  FunctionField,
  List,
  NumberField,
  NumberInput,
  RadioButtonGroupInput,
  ReferenceArrayInput,
  ReferenceInput,
  required,
  SearchInput,
  SimpleForm,
  SimpleFormIterator,
  TextField,
  TextInput,
  TopToolbar,
  useTranslate,
  type RaRecord,
} from 'react-admin';
import { Box, Divider, Typography } from '@mui/material';
import type { ReactNode } from 'react';
import { ResponsiveDatagrid } from '../../components/ResponsiveDatagrid';
import { ListActions, EditActions, ShowActions } from '../../components/Actions';
import { useCan } from '../../components/useCan';
import { ConditionsInput } from './ConditionsEditor';
import { TemplateEditor } from './TemplateEditor';
import { RuleTestButton } from './RuleTestButton';
import { DEFAULT_TEMPLATE, SAMPLE_EVENT } from './template';
import { TemplatePreview } from './TelegramPreview';
import type { Condition } from './conditions';

function Section({ title, help, children }: { title: string; help?: string; children: ReactNode }) {
  const translate = useTranslate();
  return (
    <Box sx={{ width: '100%', mb: 2 }}>
      <Divider sx={{ mb: 1 }} />
      <Typography variant="h6">{translate(title)}</Typography>
      {help ? (
        <Typography variant="body2" color="text.secondary" sx={{ mb: 1 }}>
          {translate(help)}
        </Typography>
      ) : null}
      {children}
    </Box>
  );
}

const matchChoices = [
  { id: 'all', name: 'np.rules.match_all' },
  { id: 'any', name: 'np.rules.match_any' },
];

/** Drops empty source lists and blank bot ids so "no sources" means every source, as the API says. */
export function ruleTransform(data: RaRecord): RaRecord {
  const mailboxIds = (data.sources?.mailboxIds ?? []) as string[];
  const webhookIds = (data.sources?.webhookIds ?? []) as string[];
  const targets = ((data.targets ?? []) as { chatId?: string; botId?: string | null }[])
    .filter((t) => t.chatId)
    .map((t) => (t.botId ? { chatId: t.chatId, botId: t.botId } : { chatId: t.chatId }));
  return {
    ...data,
    sources: {
      ...(mailboxIds.length ? { mailboxIds } : {}),
      ...(webhookIds.length ? { webhookIds } : {}),
    },
    targets,
  };
}

function RuleForm() {
  return (
    <SimpleForm sx={{ maxWidth: 1100 }}>
      <TextInput source="name" validate={required()} fullWidth />
      <Box sx={{ display: 'flex', gap: 2, flexWrap: 'wrap', alignItems: 'center' }}>
        <BooleanInput source="enabled" />
        <NumberInput
          source="priority"
          helperText="np.rules.priority_help"
          fullWidth={false}
          sx={{ width: 160 }}
        />
        <BooleanInput source="stopProcessing" helperText="np.rules.stop_help" />
        <BooleanInput source="includeAttachments" />
      </Box>
      <Section title="np.rules.sources" help="np.rules.sources_help">
        <ReferenceArrayInput source="sources.mailboxIds" reference="mailboxes">
          <AutocompleteArrayInput
            optionText="name"
            fullWidth
            label="resources.rules.fields.mailboxIds"
          />
        </ReferenceArrayInput>
        <ReferenceArrayInput source="sources.webhookIds" reference="webhooks">
          <AutocompleteArrayInput
            optionText="name"
            fullWidth
            label="resources.rules.fields.webhookIds"
          />
        </ReferenceArrayInput>
      </Section>
      <Section title="np.rules.conditions" help="np.rules.conditions_help">
        <RadioButtonGroupInput source="match" choices={matchChoices} row />
        <ConditionsInput />
      </Section>
      <Section title="np.rules.targets" help="np.rules.targets_help">
        <ArrayInput
          source="targets"
          label={false}
          validate={required('np.rules.errors.target_required')}
        >
          <SimpleFormIterator inline disableReordering>
            <ReferenceInput source="chatId" reference="chats">
              <AutocompleteInput
                optionText="title"
                label="resources.rules.fields.chatId"
                validate={required()}
                sx={{ minWidth: 240 }}
              />
            </ReferenceInput>
            <ReferenceInput source="botId" reference="bots">
              <AutocompleteInput
                optionText="name"
                label="resources.rules.fields.botId"
                helperText="np.rules.bot_optional"
                sx={{ minWidth: 200 }}
              />
            </ReferenceInput>
          </SimpleFormIterator>
        </ArrayInput>
      </Section>
      <Section title="np.rules.template" help="np.rules.template_section_help">
        <TemplateEditor />
      </Section>
    </SimpleForm>
  );
}

const defaults = {
  enabled: true,
  match: 'all',
  conditions: [],
  targets: [{ chatId: '' }],
  sources: { mailboxIds: [], webhookIds: [] },
  template: DEFAULT_TEMPLATE,
  includeAttachments: false,
  stopProcessing: false,
  priority: 100,
};

export function RuleList() {
  const can = useCan('rules');
  return (
    <List
      actions={<ListActions resource="rules" />}
      filters={[<SearchInput source="q" alwaysOn key="q" />]}
      sort={{ field: 'priority', order: 'ASC' }}
    >
      <ResponsiveDatagrid
        rowClick={can ? 'edit' : 'show'}
        primaryText={(r) => r.name}
        secondaryText={(r) => `${(r.conditions ?? []).length} / ${(r.targets ?? []).length}`}
      >
        <TextField source="name" />
        <BooleanField source="enabled" />
        <NumberField source="priority" />
        <TextField source="match" />
        <FunctionField
          source="conditions"
          render={(r) => (r.conditions ?? []).length}
          sortable={false}
        />
        <FunctionField source="targets" render={(r) => (r.targets ?? []).length} sortable={false} />
        <BooleanField source="stopProcessing" />
      </ResponsiveDatagrid>
    </List>
  );
}

export function RuleCreate() {
  return (
    <Create transform={ruleTransform} record={defaults} redirect="edit">
      <RuleForm />
    </Create>
  );
}

export function RuleEdit() {
  return (
    <Edit
      transform={ruleTransform}
      mutationMode="pessimistic"
      actions={
        <TopToolbar>
          <RuleTestButton />
          <EditActions resource="rules" />
        </TopToolbar>
      }
    >
      <RuleForm />
    </Edit>
  );
}

function ConditionsSummary() {
  const translate = useTranslate();
  const record = useRecordContext();
  const list = (record?.conditions ?? []) as Condition[];
  if (list.length === 0)
    return <Typography variant="body2">{translate('np.rules.no_conditions')}</Typography>;
  return (
    <Box component="ul" sx={{ m: 0, pl: 2 }}>
      {list.map((c, i) => (
        <li key={i}>
          <code>{c.field}</code> {translate(`np.rules.ops.${c.op}`)}{' '}
          {c.op === 'exists' ? null : <code>{c.value}</code>}
        </li>
      ))}
    </Box>
  );
}

function TemplateShowPreview() {
  const record = useRecordContext();
  return (
    <TemplatePreview
      template={String(record?.template ?? DEFAULT_TEMPLATE)}
      variables={SAMPLE_EVENT}
    />
  );
}

export function RuleShow() {
  return (
    <Show
      actions={
        <ShowActions resource="rules">
          <RuleTestButton />
        </ShowActions>
      }
    >
      <SimpleShowLayout>
        <TextField source="name" />
        <BooleanField source="enabled" />
        <NumberField source="priority" />
        <TextField source="match" />
        <ReferenceArrayField
          source="sources.mailboxIds"
          reference="mailboxes"
          label="resources.rules.fields.mailboxIds"
        />
        <ReferenceArrayField
          source="sources.webhookIds"
          reference="webhooks"
          label="resources.rules.fields.webhookIds"
        />
        <ConditionsSummary />
        <ArrayField source="targets">
          <Datagrid bulkActionButtons={false} rowClick={false}>
            <ReferenceField source="chatId" reference="chats" />
            <ReferenceField source="botId" reference="bots" emptyText="—" />
          </Datagrid>
        </ArrayField>
        <BooleanField source="includeAttachments" />
        <BooleanField source="stopProcessing" />
        <TemplateShowPreview />
      </SimpleShowLayout>
    </Show>
  );
}
