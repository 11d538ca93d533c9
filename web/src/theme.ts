/** Light and dark themes, with the organization's primary colour applied. */
import { defaultDarkTheme, defaultLightTheme, type RaThemeOptions } from 'react-admin';
import type { UiSettings } from './providers/orgSettings';

const COLOR = /^#[0-9a-f]{6}$/i;

/** react-admin's app bar is `color="secondary"`: the light theme takes the colour for both, so the bar follows. */
function withPrimary(
  base: RaThemeOptions,
  color: string | undefined,
  appBarToo: boolean,
): RaThemeOptions {
  if (!color || !COLOR.test(color)) return base;
  return {
    ...base,
    palette: {
      ...base.palette,
      primary: { main: color },
      ...(appBarToo ? { secondary: { main: color } } : {}),
    },
  };
}

export function buildThemes(settings: UiSettings): { light: RaThemeOptions; dark: RaThemeOptions } {
  const color = settings.theme?.primaryColor;
  return {
    light: withPrimary(defaultLightTheme, color, true),
    // The dark theme keeps its own app bar colour; the accent follows the organization.
    dark: withPrimary(defaultDarkTheme, color, false),
  };
}
