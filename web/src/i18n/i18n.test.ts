import { describe, expect, it } from 'vitest';
import { en } from './en';
import { ru } from './ru';
import { i18nProvider } from './i18nProvider';

function keys(o: unknown, prefix = ''): string[] {
  if (typeof o !== 'object' || o === null) return [prefix];
  return Object.entries(o).flatMap(([k, v]) => keys(v, prefix ? `${prefix}.${k}` : k));
}

describe('translations', () => {
  it('has every English key in Russian, translated', () => {
    expect(keys(ru).sort()).toEqual(keys(en).sort());
    const same = keys(en).filter((k) => {
      const e = k.split('.').reduce<unknown>((a, p) => (a as Record<string, unknown>)[p], en);
      const r = k.split('.').reduce<unknown>((a, p) => (a as Record<string, unknown>)[p], ru);
      return (
        e === r &&
        /[a-z]{4,}/.test(String(e)) &&
        !/^(https?|IMAP|TLS|STARTTLS|HTML|Markdown|Gmail|Mail\.ru|Outlook|Push|Long polling|URL|Username|E-mail|API)/.test(
          String(e),
        )
      );
    });
    expect(same).toEqual([]);
  });

  it('switches between English and Russian', async () => {
    await i18nProvider.changeLocale('ru');
    expect(i18nProvider.translate('np.bots.start')).toBe('Запустить');
    expect(i18nProvider.translate('ra.action.save')).toBe('Сохранить');
    await i18nProvider.changeLocale('en');
    expect(i18nProvider.translate('np.bots.start')).toBe('Start');
    expect(i18nProvider.getLocales?.().map((l) => l.locale)).toEqual(['en', 'ru']);
  });
});
