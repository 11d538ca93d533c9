import { FunctionField, List, SearchInput, TextField, TextInput } from 'react-admin';
import { ResponsiveDatagrid } from '../components/ResponsiveDatagrid';
import { DateTimeField } from '../components/DateTime';

const actor = (r: Record<string, unknown>) => {
  const a = r.actor as
    | { email?: string; name?: string; apiKeyName?: string; type?: string }
    | string
    | undefined;
  if (typeof a === 'string') return a;
  return String(
    r.actorLabel ??
      a?.email ??
      a?.name ??
      a?.apiKeyName ??
      r.userEmail ??
      r.actorEmail ??
      r.userId ??
      r.apiKeyId ??
      '',
  );
};
const target = (r: Record<string, unknown>) =>
  [r.targetType ?? r.resource ?? r.entity, r.targetId ?? r.resourceId ?? r.entityId]
    .filter(Boolean)
    .join(' ');

export function AuditLogList() {
  return (
    <List
      filters={[
        <SearchInput source="q" alwaysOn key="q" />,
        <TextInput source="action" key="action" />,
      ]}
      sort={{ field: 'createdAt', order: 'DESC' }}
    >
      <ResponsiveDatagrid
        rowClick={false}
        primaryText={(r) => `${r.action ?? ''} ${target(r)}`}
        secondaryText={actor}
        tertiaryText={(r) => r.createdAt}
      >
        <DateTimeField source="createdAt" />
        <FunctionField source="actor" render={actor} sortable={false} />
        <TextField source="action" />
        <FunctionField source="target" render={target} sortable={false} />
        <TextField source="ip" emptyText="" />
      </ResponsiveDatagrid>
    </List>
  );
}
