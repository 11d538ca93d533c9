import { describe, expect, it } from 'vitest';
import { findMailPreset, mailPresets } from './presets.js';

describe('mailPresets', () => {
  it('has unique ids, both languages and TLS endpoints for every provider', () => {
    expect(new Set(mailPresets.map((p) => p.id)).size).toBe(mailPresets.length);
    for (const preset of mailPresets) {
      expect(
        preset.label.en && preset.label.ru && preset.notes.en && preset.notes.ru,
        preset.id,
      ).toBeTruthy();
      for (const endpoint of [preset.imap, preset.pop3]) {
        if (endpoint) expect(endpoint.security, preset.id).toBe('tls');
      }
    }
    expect(findMailPreset('gmail')?.imap).toEqual({
      host: 'imap.gmail.com',
      port: 993,
      security: 'tls',
    });
    expect(findMailPreset('gmail')?.pop3).toEqual({
      host: 'pop.gmail.com',
      port: 995,
      security: 'tls',
    });
    expect(findMailPreset('outlook')?.oauth2).toBe('required');
    expect(findMailPreset('custom')?.imap).toBeUndefined();
    expect(findMailPreset('nope')).toBeUndefined();
  });

  it('is JSON-serializable as is (served to the admin app)', () => {
    expect(JSON.parse(JSON.stringify(mailPresets))).toEqual(mailPresets);
  });
});
