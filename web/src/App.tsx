import { useEffect, useMemo, useSyncExternalStore } from 'react';
import { Admin, CustomRoutes, Resource } from 'react-admin';
import { Route } from 'react-router-dom';
import { authProvider } from './providers/authProvider';
import { dataProvider } from './providers/dataProvider';
import { session } from './providers/session';
import { orgStore, useUiSettings } from './providers/orgSettings';
import { i18nProvider } from './i18n/i18nProvider';
import { buildThemes } from './theme';
import { iconFor } from './components/icons';
import { Layout } from './layout/Layout';
import { LoginPage } from './pages/LoginPage';
import { SignupPage } from './pages/SignupPage';
import { Dashboard } from './resources/dashboard/Dashboard';
import { BotCreate, BotEdit, BotList, BotShow } from './resources/bots';
import { ChatCreate, ChatEdit, ChatList, ChatShow } from './resources/chats';
import { MailboxCreate, MailboxEdit, MailboxList, MailboxShow } from './resources/mailboxes';
import { WebhookCreate, WebhookList, WebhookShow } from './resources/webhooks';
import { RuleCreate, RuleEdit, RuleList, RuleShow } from './resources/rules';
import { NotificationCreate, NotificationList, NotificationShow } from './resources/notifications';
import { DeliveryList, DeliveryShow } from './resources/deliveries';
import { EventList, EventShow } from './resources/events';
import { LogList } from './resources/logs';
import { AuditLogList } from './resources/auditLog';
import { MemberCreate, MemberEdit, MemberList } from './resources/members';
import { ApiKeyCreate, ApiKeyList } from './resources/apiKeys';
import { SettingsPage } from './resources/settings';
import { AdminLogList, AdminOrgList } from './resources/admin';
import { canManage } from './providers/roles';

export function App() {
  const me = useSyncExternalStore(session.subscribe, session.getMe, session.getMe);
  const orgId = useSyncExternalStore(session.subscribe, session.getOrgId, session.getOrgId);
  const epoch = useSyncExternalStore(session.subscribe, session.getEpoch, session.getEpoch);
  const settings = useUiSettings();

  useEffect(() => {
    void orgStore.load();
  }, [orgId, me?.user.id]);

  const color = settings.theme?.primaryColor;
  const themes = useMemo(() => buildThemes({ theme: { primaryColor: color } }), [color]);
  const icons = settings.icons;
  // Create and edit screens exist only for roles that may use them: no Create button (also on an
  // empty list), no edit link, no form behind a typed URL. The server enforces the same rules.
  const role = me && orgId ? session.currentRole() : null;
  const writable = <T,>(resource: string, screen: T): T | undefined =>
    canManage(role, resource) ? screen : undefined;

  return (
    <Admin
      key={epoch}
      disableTelemetry
      title="NotifyPro"
      dataProvider={dataProvider}
      authProvider={authProvider}
      i18nProvider={i18nProvider}
      layout={Layout}
      loginPage={LoginPage}
      dashboard={Dashboard}
      lightTheme={themes.light}
      darkTheme={themes.dark}
      defaultTheme={settings.theme?.mode ?? 'light'}
    >
      <Resource
        name="bots"
        list={BotList}
        show={BotShow}
        create={writable('bots', BotCreate)}
        edit={writable('bots', BotEdit)}
        icon={iconFor('bots', icons)}
        recordRepresentation="name"
      />
      <Resource
        name="chats"
        list={ChatList}
        show={ChatShow}
        create={writable('chats', ChatCreate)}
        edit={writable('chats', ChatEdit)}
        icon={iconFor('chats', icons)}
        recordRepresentation={(r) => r.title || r.telegramChatId}
      />
      <Resource
        name="mailboxes"
        list={MailboxList}
        show={MailboxShow}
        create={writable('mailboxes', MailboxCreate)}
        edit={writable('mailboxes', MailboxEdit)}
        icon={iconFor('mailboxes', icons)}
        recordRepresentation="name"
      />
      <Resource
        name="webhooks"
        list={WebhookList}
        show={WebhookShow}
        create={writable('webhooks', WebhookCreate)}
        icon={iconFor('webhooks', icons)}
        recordRepresentation="name"
      />
      <Resource
        name="rules"
        list={RuleList}
        show={RuleShow}
        create={writable('rules', RuleCreate)}
        edit={writable('rules', RuleEdit)}
        icon={iconFor('rules', icons)}
        recordRepresentation="name"
      />
      <Resource
        name="notifications"
        list={NotificationList}
        show={NotificationShow}
        create={writable('notifications', NotificationCreate)}
        icon={iconFor('notifications', icons)}
        recordRepresentation={(r) => String(r.text ?? r.id).slice(0, 40)}
      />
      <Resource
        name="deliveries"
        list={DeliveryList}
        show={DeliveryShow}
        icon={iconFor('deliveries', icons)}
      />
      <Resource
        name="events"
        list={EventList}
        show={EventShow}
        icon={iconFor('events', icons)}
        recordRepresentation={(r) => String(r.subject ?? r.id)}
      />
      <Resource name="logs" list={LogList} icon={iconFor('logs', icons)} />
      <Resource name="audit-log" list={AuditLogList} icon={iconFor('audit-log', icons)} />
      <Resource
        name="members"
        list={MemberList}
        create={writable('members', MemberCreate)}
        edit={writable('members', MemberEdit)}
        icon={iconFor('members', icons)}
        recordRepresentation={(r) => r.name || r.email}
      />
      <Resource
        name="api-keys"
        list={ApiKeyList}
        create={writable('api-keys', ApiKeyCreate)}
        icon={iconFor('api-keys', icons)}
        recordRepresentation="name"
      />
      {me?.user.isSuperadmin ? (
        <Resource name="admin-orgs" list={AdminOrgList} icon={iconFor('admin-orgs', icons)} />
      ) : null}
      {me?.user.isSuperadmin ? (
        <Resource name="admin-logs" list={AdminLogList} icon={iconFor('admin-logs', icons)} />
      ) : null}
      <CustomRoutes>
        <Route path="/settings" element={<SettingsPage />} />
      </CustomRoutes>
      <CustomRoutes noLayout>
        <Route path="/signup" element={<SignupPage />} />
      </CustomRoutes>
    </Admin>
  );
}
