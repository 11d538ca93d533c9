import { FunctionField, List, SearchInput, SelectInput, TextInput, TextField } from 'react-admin';
import { ResponsiveDatagrid } from '../components/ResponsiveDatagrid';
import { StatusChip } from '../components/StatusChip';
import { DateTimeField } from '../components/DateTime';

export const levelChoices = ['debug', 'info', 'warn', 'error'].map((id) => ({
  id,
  name: `np.status.${id}`,
}));

export const logFilters = [
  <SearchInput source="q" alwaysOn key="q" />,
  <SelectInput source="level" choices={levelChoices} alwaysOn key="level" />,
  <TextInput source="source" alwaysOn key="source" />,
];

export function LogList() {
  return (
    <List
      filters={logFilters}
      sort={{ field: 'createdAt', order: 'DESC' }}
      queryOptions={{ refetchInterval: 15_000 }}
    >
      <ResponsiveDatagrid
        rowClick={false}
        primaryText={(r) => r.message}
        secondaryText={(r) => `${r.level ?? ''} · ${r.source ?? ''}`}
        tertiaryText={(r) => r.createdAt}
      >
        <DateTimeField source="createdAt" />
        <StatusChip source="level" />
        <TextField source="source" />
        <FunctionField source="message" render={(r) => String(r.message ?? r.msg ?? '')} />
      </ResponsiveDatagrid>
    </List>
  );
}
