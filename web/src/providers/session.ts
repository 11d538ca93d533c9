/** Browser-side session state: the bearer token, the current organization and the cached `GET /me`. */
import type { Role } from './roles';

const TOKEN_KEY = 'notifypro.token';
const ORG_KEY = 'notifypro.orgId';

export interface Membership {
  organization: { id: string; name: string };
  role: Role;
}

export interface Me {
  user: { id: string; email: string; name: string; isSuperadmin?: boolean };
  memberships: Membership[];
}

type Listener = () => void;
const listeners = new Set<Listener>();
let me: Me | null = null;
let epoch = 0;

function emit(): void {
  for (const l of listeners) l();
}

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

export const session = {
  getToken: (): string | null => storage()?.getItem(TOKEN_KEY) ?? null,
  setToken(token: string): void {
    storage()?.setItem(TOKEN_KEY, token);
    emit();
  },
  getOrgId: (): string | null => storage()?.getItem(ORG_KEY) ?? null,
  setOrgId(orgId: string): void {
    storage()?.setItem(ORG_KEY, orgId);
    emit();
  },
  getMe: (): Me | null => me,
  /** Bumped on an explicit organization switch; the admin is keyed on it so every cache resets. */
  getEpoch: (): number => epoch,
  switchOrg(orgId: string): void {
    storage()?.setItem(ORG_KEY, orgId);
    epoch += 1;
    emit();
  },
  setMe(next: Me | null): void {
    me = next;
    // Keep the current org valid: the stored one if still a member, else the first membership.
    if (next) {
      const current = session.getOrgId();
      const ids = next.memberships.map((m) => String(m.organization.id));
      if ((!current || !ids.includes(current)) && ids[0]) storage()?.setItem(ORG_KEY, ids[0]);
    }
    emit();
  },
  /** The caller's role in the current organization, or null when not a member. */
  currentRole(): Role | null {
    const orgId = session.getOrgId();
    return me?.memberships.find((m) => String(m.organization.id) === orgId)?.role ?? null;
  },
  clear(): void {
    storage()?.removeItem(TOKEN_KEY);
    me = null;
    emit();
  },
  subscribe(listener: Listener): () => void {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
};
