import polyglotI18nProvider from 'ra-i18n-polyglot';
import englishMessages from 'ra-language-english';
import russianMessages from 'ra-language-russian';
import { en } from './en';
import { ru } from './ru';

type Messages = Record<string, unknown>;

/** Deep merge where `over` wins; used so keys missing from a translation fall back to English. */
export function mergeMessages(base: Messages, over: Messages): Messages {
  const out: Messages = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object'
        ? mergeMessages(b as Messages, v as Messages)
        : v;
  }
  return out;
}

const englishAll = mergeMessages(englishMessages as unknown as Messages, en);
const russianAll = mergeMessages(
  mergeMessages(englishAll, russianMessages as unknown as Messages),
  ru,
);

export const LOCALES = [
  { locale: 'en', name: 'English' },
  { locale: 'ru', name: 'Русский' },
];

/** The stored choice (react-admin keeps it in localStorage), else the browser's language. */
export function initialLocale(): 'en' | 'ru' {
  try {
    const stored = localStorage.getItem('RaStore.locale');
    const parsed = stored ? (JSON.parse(stored) as unknown) : null;
    if (parsed === 'ru' || parsed === 'en') return parsed;
  } catch {
    // no storage: fall through
  }
  return typeof navigator !== 'undefined' && navigator.language?.toLowerCase().startsWith('ru')
    ? 'ru'
    : 'en';
}

export const i18nProvider = polyglotI18nProvider(
  (locale) => (locale === 'ru' ? russianAll : englishAll) as never,
  initialLocale(),
  LOCALES,
  { allowMissing: true },
);
