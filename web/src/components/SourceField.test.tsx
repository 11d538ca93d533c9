import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render, screen } from '@testing-library/react';
import { AdminContext, RecordContextProvider } from 'react-admin';
import { i18nProvider } from '../i18n/i18nProvider';
import { SourceField } from './SourceField';

afterEach(cleanup);

async function shown(locale: 'en' | 'ru', source: unknown): Promise<string | null> {
  await i18nProvider.changeLocale(locale);
  render(
    <AdminContext i18nProvider={i18nProvider}>
      <RecordContextProvider value={{ id: 'e1', source }}>
        <SourceField emptyText="—" />
      </RecordContextProvider>
    </AdminContext>,
  );
  const text = (await screen.findByText(/./)).textContent;
  cleanup();
  return text;
}

describe('SourceField', () => {
  it('shows an event source in the chosen language, like the other enum values', async () => {
    expect(await shown('en', 'mail')).toBe('E-mail');
    expect(await shown('en', 'webhook')).toBe('Webhook');
    expect(await shown('ru', 'mail')).toBe('Почта');
    expect(await shown('ru', 'webhook')).toBe('Вебхук');
    expect(await shown('ru', 'api')).toBe('API');
  });

  it('shows an unknown source as it came and an empty one as the empty text', async () => {
    expect(await shown('ru', 'smtp')).toBe('smtp');
    expect(await shown('en', null)).toBe('—');
    await i18nProvider.changeLocale('en');
  });
});
