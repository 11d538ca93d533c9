import { useEffect } from 'react';
import { useLocaleState, useStore } from 'react-admin';
import { useUiSettings } from '../providers/orgSettings';

/** Applies the organization's default language until the user picks one (then theirs is remembered). */
export function OrgLanguageDefault() {
  const [stored] = useStore<string | undefined>('locale');
  const [locale, setLocale] = useLocaleState();
  const { language } = useUiSettings();
  useEffect(() => {
    if (!stored && language && language !== locale) setLocale(language);
  }, [stored, language, locale, setLocale]);
  return null;
}
