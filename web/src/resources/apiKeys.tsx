import { useState } from 'react';
import {
  Create,
  DateTimeInput,
  DeleteWithConfirmButton,
  List,
  SelectInput,
  SimpleForm,
  TextField,
  TextInput,
  required,
  useRedirect,
  useTranslate,
  type RaRecord,
} from 'react-admin';
import { Button, Card, CardContent, Typography } from '@mui/material';
import { ResponsiveDatagrid } from '../components/ResponsiveDatagrid';
import { StatusChip } from '../components/StatusChip';
import { DateTimeField } from '../components/DateTime';
import { ListActions } from '../components/Actions';
import { SecretValue } from '../components/SecretValue';
import { useCan } from '../components/useCan';
import { session } from '../providers/session';
import { useRoleChoices } from './members';

function RevokeButton() {
  const can = useCan('api-keys');
  return can ? (
    <DeleteWithConfirmButton
      mutationMode="pessimistic"
      label="np.apiKeys.revoke"
      confirmTitle="np.apiKeys.revoke_title"
      confirmContent="np.apiKeys.revoke_content"
    />
  ) : null;
}

export function ApiKeyList() {
  return (
    <List
      actions={<ListActions resource="api-keys" />}
      sort={{ field: 'createdAt', order: 'DESC' }}
    >
      <ResponsiveDatagrid
        rowClick={false}
        primaryText={(r) => r.name}
        secondaryText={(r) => r.role}
        tertiaryText={(r) => r.keyHint ?? r.prefix ?? ''}
      >
        <TextField source="name" />
        <StatusChip source="role" />
        <TextField source="keyHint" emptyText="" />
        <DateTimeField source="createdAt" />
        <DateTimeField source="expiresAt" />
        <DateTimeField source="lastUsedAt" />
        <RevokeButton />
      </ResponsiveDatagrid>
    </List>
  );
}

/** Future dates only; an empty expiry means the key does not expire. */
export function validateExpiry(value: unknown): string | undefined {
  if (!value) return undefined;
  return new Date(String(value)).getTime() > Date.now() ? undefined : 'np.apiKeys.expiry_past';
}

export function ApiKeyCreate() {
  const translate = useTranslate();
  const redirect = useRedirect();
  const roles = useRoleChoices();
  const [created, setCreated] = useState<RaRecord | null>(null);
  if (created) {
    return (
      <Card sx={{ mt: 2, maxWidth: 760 }}>
        <CardContent>
          <Typography variant="h6" gutterBottom>
            {translate('np.apiKeys.created', { name: created.name })}
          </Typography>
          <SecretValue
            label={translate('np.apiKeys.key')}
            value={String(created.key ?? '')}
            warning={translate('np.apiKeys.key_once')}
          />
          <Typography variant="body2" color="text.secondary">
            {translate('np.apiKeys.usage')}
          </Typography>
          {/* A key works only inside its organization (not on /me): the example lists its chats. */}
          <SecretValue
            label="curl"
            value={`curl -H 'Authorization: Bearer ${String(created.key ?? '')}' ${window.location.origin}/api/v1/orgs/${session.getOrgId() ?? ''}/chats`}
          />
          <Button variant="contained" sx={{ mt: 2 }} onClick={() => redirect('list', 'api-keys')}>
            {translate('np.common.done')}
          </Button>
        </CardContent>
      </Card>
    );
  }
  return (
    <Create
      mutationOptions={{ onSuccess: (data: RaRecord) => setCreated(data) }}
      transform={(data) => ({
        ...data,
        expiresAt: data.expiresAt ? new Date(data.expiresAt).toISOString() : undefined,
      })}
    >
      <SimpleForm defaultValues={{ role: 'viewer' }}>
        <TextInput source="name" validate={required()} />
        <SelectInput
          source="role"
          choices={roles}
          validate={required()}
          helperText="np.apiKeys.role_help"
        />
        <DateTimeInput source="expiresAt" validate={validateExpiry} />
      </SimpleForm>
    </Create>
  );
}
