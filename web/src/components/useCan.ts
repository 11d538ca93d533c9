import { usePermissions } from 'react-admin';
import { canManage } from '../providers/roles';

/** Whether the current user's role in the current organization may change `resource`. */
export function useCan(resource: string): boolean {
  const { permissions } = usePermissions();
  return canManage(permissions, resource);
}
