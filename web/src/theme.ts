/** Light and dark themes, with the organization's primary colour applied. */
import { defaultDarkTheme, defaultLightTheme, type RaThemeOptions } from 'react-admin';
import type { UiSettings } from './providers/orgSettings';

const COLOR = /^#[0-9a-f]{6}$/i;

function withPrimary(base: RaThemeOptions, color: string | undefined): RaThemeOptions {
  if (!color || !COLOR.test(color)) return base;
  return { ...base, palette: { ...base.palette, primary: { main: color } } };
}

export function buildThemes(settings: UiSettings): { light: RaThemeOptions; dark: RaThemeOptions } {
  const color = settings.theme?.primaryColor;
  return {
    light: withPrimary(defaultLightTheme, color),
    // The dark theme keeps its own app bar colour; the accent follows the organization.
    dark: withPrimary(defaultDarkTheme, color),
  };
}
