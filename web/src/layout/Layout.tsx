import type { ReactNode } from 'react';
import { Box } from '@mui/material';
import {
  AppBar,
  Layout as RaLayout,
  LoadingIndicator,
  Menu as RaMenu,
  TitlePortal,
  ToggleThemeButton,
  useTranslate,
} from 'react-admin';
import { OrgSwitcher } from './OrgSwitcher';
import { LanguageSwitcher } from './LanguageSwitcher';
import { OrgLanguageDefault } from './OrgLanguageDefault';
import { iconFor } from '../components/icons';
import { useUiSettings } from '../providers/orgSettings';

function Logo() {
  const { logoUrl } = useUiSettings();
  if (!logoUrl) return null;
  return (
    <Box
      component="img"
      src={logoUrl}
      alt=""
      sx={{ height: 32, maxWidth: 120, objectFit: 'contain', mr: 1 }}
    />
  );
}

function NotifyProAppBar() {
  return (
    <AppBar
      toolbar={
        <>
          <OrgSwitcher />
          <LanguageSwitcher />
          <ToggleThemeButton />
          <LoadingIndicator />
        </>
      }
    >
      <Logo />
      <TitlePortal />
    </AppBar>
  );
}

function NotifyProMenu() {
  const translate = useTranslate();
  const { icons } = useUiSettings();
  const DashboardIcon = iconFor('dashboard', icons);
  const SettingsIcon = iconFor('settings', icons);
  return (
    <RaMenu>
      <RaMenu.DashboardItem
        leftIcon={<DashboardIcon />}
        primaryText={translate('np.menu.dashboard')}
      />
      <RaMenu.ResourceItems />
      <RaMenu.Item
        to="/settings"
        primaryText={translate('np.menu.settings')}
        leftIcon={<SettingsIcon />}
      />
    </RaMenu>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  return (
    <RaLayout appBar={NotifyProAppBar} menu={NotifyProMenu}>
      <OrgLanguageDefault />
      {children}
    </RaLayout>
  );
}
