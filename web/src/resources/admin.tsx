/** The installation's superadmin area: every organization and the system log. */
import { FunctionField, List, SearchInput, TextField } from 'react-admin';
import { ResponsiveDatagrid } from '../components/ResponsiveDatagrid';
import { StatusChip } from '../components/StatusChip';
import { DateTimeField } from '../components/DateTime';
import { logFilters } from './logs';

const count = (r: Record<string, unknown>, key: string) =>
  (r[`${key}Count`] ??
    (r.counts as Record<string, unknown> | undefined)?.[key] ??
    r[key] ??
    0) as number;

export function AdminOrgList() {
  return (
    <List
      filters={[<SearchInput source="q" alwaysOn key="q" />]}
      sort={{ field: 'createdAt', order: 'DESC' }}
    >
      <ResponsiveDatagrid
        rowClick={false}
        primaryText={(r) => r.name}
        secondaryText={(r) =>
          `${count(r, 'members')} / ${count(r, 'bots')} / ${count(r, 'mailboxes')}`
        }
      >
        <TextField source="name" />
        <FunctionField source="members" render={(r) => count(r, 'members')} sortable={false} />
        <FunctionField source="bots" render={(r) => count(r, 'bots')} sortable={false} />
        <FunctionField source="mailboxes" render={(r) => count(r, 'mailboxes')} sortable={false} />
        <DateTimeField source="createdAt" />
      </ResponsiveDatagrid>
    </List>
  );
}

export function AdminLogList() {
  return (
    <List filters={logFilters} sort={{ field: 'createdAt', order: 'DESC' }}>
      <ResponsiveDatagrid
        rowClick={false}
        primaryText={(r) => r.message}
        secondaryText={(r) => `${r.level ?? ''} · ${r.source ?? ''} · ${r.orgId ?? ''}`}
        tertiaryText={(r) => r.createdAt}
      >
        <DateTimeField source="createdAt" />
        <StatusChip source="level" />
        <TextField source="source" />
        <TextField source="orgId" emptyText="" />
        <FunctionField source="message" render={(r) => String(r.message ?? r.msg ?? '')} />
      </ResponsiveDatagrid>
    </List>
  );
}
