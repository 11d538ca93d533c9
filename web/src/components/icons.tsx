/** The icons an organization may pick per section (a curated set keeps the bundle small). */
import type { ComponentType } from 'react';
import type { SvgIconProps } from '@mui/material';
import Dashboard from '@mui/icons-material/Dashboard';
import SmartToy from '@mui/icons-material/SmartToy';
import Forum from '@mui/icons-material/Forum';
import Groups from '@mui/icons-material/Groups';
import Mail from '@mui/icons-material/Mail';
import MarkEmailUnread from '@mui/icons-material/MarkEmailUnread';
import Inbox from '@mui/icons-material/Inbox';
import Webhook from '@mui/icons-material/Webhook';
import Link from '@mui/icons-material/Link';
import AltRoute from '@mui/icons-material/AltRoute';
import Rule from '@mui/icons-material/Rule';
import FilterAlt from '@mui/icons-material/FilterAlt';
import Send from '@mui/icons-material/Send';
import Notifications from '@mui/icons-material/Notifications';
import Campaign from '@mui/icons-material/Campaign';
import LocalShipping from '@mui/icons-material/LocalShipping';
import DoneAll from '@mui/icons-material/DoneAll';
import Bolt from '@mui/icons-material/Bolt';
import Event from '@mui/icons-material/Event';
import ListAlt from '@mui/icons-material/ListAlt';
import Article from '@mui/icons-material/Article';
import History from '@mui/icons-material/History';
import Policy from '@mui/icons-material/Policy';
import People from '@mui/icons-material/People';
import Badge from '@mui/icons-material/Badge';
import Key from '@mui/icons-material/Key';
import VpnKey from '@mui/icons-material/VpnKey';
import Settings from '@mui/icons-material/Settings';
import Tune from '@mui/icons-material/Tune';
import AdminPanelSettings from '@mui/icons-material/AdminPanelSettings';
import Business from '@mui/icons-material/Business';
import Telegram from '@mui/icons-material/Telegram';
import Star from '@mui/icons-material/Star';
import Favorite from '@mui/icons-material/Favorite';
import Bookmark from '@mui/icons-material/Bookmark';
import Label from '@mui/icons-material/Label';
import Folder from '@mui/icons-material/Folder';
import Storage from '@mui/icons-material/Storage';
import Cloud from '@mui/icons-material/Cloud';
import Security from '@mui/icons-material/Security';
import Shield from '@mui/icons-material/Shield';
import Public from '@mui/icons-material/Public';
import BarChart from '@mui/icons-material/BarChart';
import Insights from '@mui/icons-material/Insights';
import BugReport from '@mui/icons-material/BugReport';
import Terminal from '@mui/icons-material/Terminal';
import Chat from '@mui/icons-material/Chat';
import Email from '@mui/icons-material/Email';
import Alarm from '@mui/icons-material/Alarm';
import Extension from '@mui/icons-material/Extension';

export const ICONS: Record<string, ComponentType<SvgIconProps>> = {
  Dashboard,
  SmartToy,
  Telegram,
  Forum,
  Groups,
  Chat,
  Mail,
  Email,
  MarkEmailUnread,
  Inbox,
  Webhook,
  Link,
  AltRoute,
  Rule,
  FilterAlt,
  Send,
  Notifications,
  Campaign,
  LocalShipping,
  DoneAll,
  Bolt,
  Event,
  ListAlt,
  Article,
  History,
  Policy,
  People,
  Badge,
  Key,
  VpnKey,
  Settings,
  Tune,
  AdminPanelSettings,
  Business,
  Star,
  Favorite,
  Bookmark,
  Label,
  Folder,
  Storage,
  Cloud,
  Security,
  Shield,
  Public,
  BarChart,
  Insights,
  BugReport,
  Terminal,
  Alarm,
  Extension,
};

export const ICON_NAMES = Object.keys(ICONS).sort();

/** Default icon per section; an organization's `settings.icons` overrides them. */
export const DEFAULT_ICONS: Record<string, string> = {
  dashboard: 'Dashboard',
  bots: 'SmartToy',
  chats: 'Forum',
  mailboxes: 'Mail',
  webhooks: 'Webhook',
  rules: 'AltRoute',
  notifications: 'Send',
  deliveries: 'DoneAll',
  events: 'Bolt',
  logs: 'Article',
  'audit-log': 'History',
  members: 'People',
  'api-keys': 'VpnKey',
  settings: 'Settings',
  'admin-orgs': 'Business',
  'admin-logs': 'Terminal',
};

export function iconFor(
  section: string,
  overrides?: Record<string, string>,
): ComponentType<SvgIconProps> {
  const name = overrides?.[section];
  return (name && ICONS[name]) || ICONS[DEFAULT_ICONS[section] ?? 'Label'] || Label;
}
