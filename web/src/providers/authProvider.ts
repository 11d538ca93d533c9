/** react-admin's AuthProvider: bearer token from login/signup, identity and role from `GET /me`. */
import type { AuthProvider } from 'react-admin';
import { api } from './http';
import { session, type Me } from './session';

let mePromise: Promise<Me> | null = null;

/** `GET /me`, cached until login, logout or an explicit refresh. */
export function loadMe(refresh = false): Promise<Me> {
  if (!mePromise || refresh) {
    mePromise = api<Me>('/me').then(
      (me) => {
        session.setMe({ ...me, memberships: me.memberships ?? [] });
        return session.getMe()!;
      },
      (err) => {
        mePromise = null;
        throw err;
      },
    );
  }
  return mePromise;
}

export interface SignupParams {
  signup: true;
  email: string;
  password: string;
  name: string;
  organizationName: string;
}

interface AuthAnswer {
  token: string;
  organization?: { id: string };
}

export const authProvider: AuthProvider = {
  async login(params: { email: string; password: string } | SignupParams) {
    const answer =
      'signup' in params
        ? await api<AuthAnswer>('/auth/signup', {
            method: 'POST',
            body: {
              email: params.email,
              password: params.password,
              name: params.name,
              organizationName: params.organizationName,
            },
          })
        : await api<AuthAnswer>('/auth/login', {
            method: 'POST',
            body: { email: params.email, password: params.password },
          });
    session.setToken(answer.token);
    if (answer.organization?.id) session.setOrgId(String(answer.organization.id));
    await loadMe(true);
  },

  async logout() {
    if (session.getToken()) {
      try {
        await api('/auth/logout', { method: 'POST' });
      } catch {
        // An expired token cannot log out; forgetting it locally is what matters.
      }
    }
    mePromise = null;
    session.clear();
  },

  async checkAuth() {
    if (!session.getToken()) throw new Error('ra.auth.auth_check_error');
  },

  async checkError(error: { status?: number }) {
    if (error?.status === 401) {
      mePromise = null;
      session.clear();
      throw new Error('ra.notification.logged_out');
    }
    // 403 (role too low) and the rest keep the session.
  },

  async getIdentity() {
    const me = await loadMe();
    return {
      id: String(me.user.id),
      fullName: me.user.name || me.user.email,
      email: me.user.email,
      isSuperadmin: Boolean(me.user.isSuperadmin),
    };
  },

  async getPermissions() {
    if (!session.getToken()) return null;
    await loadMe();
    return session.currentRole();
  },
};
