import {
  Create,
  DeleteWithConfirmButton,
  Edit,
  List,
  PasswordInput,
  SearchInput,
  SelectInput,
  SimpleForm,
  TextField,
  TextInput,
  email,
  required,
  usePermissions,
  useRecordContext,
  useGetIdentity,
} from 'react-admin';
import { ResponsiveDatagrid } from '../components/ResponsiveDatagrid';
import { StatusChip } from '../components/StatusChip';
import { DateTimeField } from '../components/DateTime';
import { ListActions } from '../components/Actions';
import { useCan } from '../components/useCan';
import { atLeast, grantableRoles, isRole } from '../providers/roles';

export function useRoleChoices() {
  const { permissions } = usePermissions();
  return grantableRoles(permissions).map((id) => ({ id, name: `np.roles.${id}` }));
}

/** Remove is offered only for members whose role the caller may manage, and never for oneself. */
function RemoveMemberButton() {
  const record = useRecordContext();
  const { permissions } = usePermissions();
  const { identity } = useGetIdentity();
  const can = useCan('members');
  if (!record || !can || String(record.id) === String(identity?.id)) return null;
  if (isRole(record.role) && !atLeast(permissions, record.role)) return null;
  return <DeleteWithConfirmButton mutationMode="pessimistic" label="np.members.remove" />;
}

export function MemberList() {
  const can = useCan('members');
  return (
    <List
      actions={<ListActions resource="members" />}
      filters={[<SearchInput source="q" alwaysOn key="q" />]}
      sort={{ field: 'name', order: 'ASC' }}
    >
      <ResponsiveDatagrid
        rowClick={can ? 'edit' : false}
        primaryText={(r) => r.name || r.email}
        secondaryText={(r) => r.email}
        tertiaryText={(r) => r.role}
      >
        <TextField source="name" />
        <TextField source="email" />
        <StatusChip source="role" />
        <DateTimeField source="createdAt" />
        <RemoveMemberButton />
      </ResponsiveDatagrid>
    </List>
  );
}

export function MemberCreate() {
  const roles = useRoleChoices();
  return (
    <Create redirect="list">
      <SimpleForm defaultValues={{ role: 'viewer' }}>
        <TextInput source="email" type="email" validate={[required(), email()]} />
        <TextInput source="name" validate={required()} />
        <SelectInput source="role" choices={roles} validate={required()} />
        <PasswordInput source="password" helperText="np.members.password_help" />
      </SimpleForm>
    </Create>
  );
}

/** Only the role changes (`PATCH …/members/{userId} {role}`). */
export function MemberEdit() {
  const roles = useRoleChoices();
  return (
    <Edit mutationMode="pessimistic" redirect="list" transform={(data) => ({ role: data.role })}>
      <SimpleForm>
        <TextField source="name" />
        <TextField source="email" />
        <SelectInput source="role" choices={roles} validate={required()} />
      </SimpleForm>
    </Edit>
  );
}
