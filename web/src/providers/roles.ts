/** Roles, from most to least powerful, and which role a screen's write actions need. */
export type Role = 'owner' | 'admin' | 'operator' | 'viewer';

export const ROLES: Role[] = ['owner', 'admin', 'operator', 'viewer'];

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2, owner: 3 };

/** The least role that may create, edit, delete or act on a resource (the server enforces too). */
export const MANAGE_ROLE: Record<string, Role> = {
  chats: 'operator',
  rules: 'operator',
  webhooks: 'operator',
  notifications: 'operator',
  deliveries: 'operator',
  bots: 'admin',
  mailboxes: 'admin',
  'api-keys': 'admin',
  members: 'admin',
  settings: 'admin',
  organization: 'owner',
};

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && value in RANK;
}

export function atLeast(role: unknown, needed: Role): boolean {
  return isRole(role) && RANK[role] >= RANK[needed];
}

/** Whether `role` may change `resource`; read-only resources (events, logs…) answer false. */
export function canManage(role: unknown, resource: string): boolean {
  const needed = MANAGE_ROLE[resource];
  return needed !== undefined && atLeast(role, needed);
}

/** Roles `role` may grant (nobody grants above their own). */
export function grantableRoles(role: unknown): Role[] {
  return ROLES.filter((r) => atLeast(role, r));
}
