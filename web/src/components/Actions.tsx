/** Toolbars that show write actions only to roles that may use them (the server enforces as well). */
import type { ReactNode } from 'react';
import {
  CreateButton,
  DeleteWithConfirmButton,
  EditButton,
  FilterButton,
  ShowButton,
  TopToolbar,
  useResourceContext,
  useResourceDefinition,
} from 'react-admin';
import { useCan } from './useCan';

export function ListActions({
  resource,
  filters = false,
  children,
}: {
  resource?: string;
  filters?: boolean;
  children?: ReactNode;
}) {
  const fromContext = useResourceContext();
  const name = resource ?? fromContext ?? '';
  const can = useCan(name);
  const { hasCreate } = useResourceDefinition({ resource: name });
  return (
    <TopToolbar>
      {children}
      {filters ? <FilterButton /> : null}
      {can && hasCreate ? <CreateButton /> : null}
    </TopToolbar>
  );
}

/** On a show page: edit and delete for those who may; `children` go first (resource actions). */
export function ShowActions({
  resource,
  children,
  deleteLabel,
}: {
  resource: string;
  children?: ReactNode;
  deleteLabel?: string;
}) {
  const can = useCan(resource);
  const { hasEdit } = useResourceDefinition({ resource });
  return (
    <TopToolbar>
      {children}
      {can && hasEdit ? <EditButton /> : null}
      {can ? <DeleteWithConfirmButton mutationMode="pessimistic" label={deleteLabel} /> : null}
    </TopToolbar>
  );
}

/** On an edit page: back to show and delete. */
export function EditActions({ resource }: { resource: string }) {
  const can = useCan(resource);
  const { hasShow } = useResourceDefinition({ resource });
  return (
    <>
      {hasShow ? <ShowButton /> : null}
      {can ? <DeleteWithConfirmButton mutationMode="pessimistic" /> : null}
    </>
  );
}
