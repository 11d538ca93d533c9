/** The current organization (name and UI settings) as a small store, so theme, logo and icons apply live. */
import { useSyncExternalStore } from 'react';
import { api } from './http';
import { session } from './session';

/** UI settings kept per organization in `settings` of `PATCH /orgs/{orgId}`. */
export interface UiSettings {
  timeZone?: string;
  language?: 'en' | 'ru';
  theme?: { primaryColor?: string; mode?: 'light' | 'dark' };
  logoUrl?: string;
  /** Section (resource name) → MUI icon name, e.g. `{bots: "SmartToy"}`. */
  icons?: Record<string, string>;
  /** Alerts (not UI): the chat told, minutes of failure before an alert, reminder hours. */
  alertChatId?: string | null;
  alertAfterMinutes?: number;
  alertReminderHours?: number;
}

export interface Organization {
  id: string;
  name: string;
  settings?: UiSettings;
}

type State = { org: Organization | null; preview: UiSettings | null };
let state: State = { org: null, preview: null };
const listeners = new Set<() => void>();

function set(next: Partial<State>): void {
  state = { ...state, ...next };
  for (const l of listeners) l();
}

export const orgStore = {
  get: (): State => state,
  subscribe(l: () => void): () => void {
    listeners.add(l);
    return () => listeners.delete(l);
  },
  async load(): Promise<void> {
    const orgId = session.getOrgId();
    if (!orgId || !session.getToken()) {
      set({ org: null, preview: null });
      return;
    }
    try {
      const org = await api<Organization>(`/orgs/${encodeURIComponent(orgId)}`);
      set({ org: { ...org, id: String(org.id), settings: org.settings ?? {} }, preview: null });
    } catch {
      set({ org: null, preview: null });
    }
  },
  setOrg(org: Organization): void {
    set({ org, preview: null });
  },
  /** Shows unsaved settings (the settings screen's live preview); `null` goes back to the saved ones. */
  preview(settings: UiSettings | null): void {
    set({ preview: settings });
  },
};

/** The settings to apply now: the preview while editing, else the saved ones. */
export function useUiSettings(): UiSettings {
  const s = useSyncExternalStore(orgStore.subscribe, orgStore.get, orgStore.get);
  return s.preview ?? s.org?.settings ?? {};
}

export function useCurrentOrg(): Organization | null {
  return useSyncExternalStore(orgStore.subscribe, orgStore.get, orgStore.get).org;
}
