/** Connection presets for well-known mail providers, shown in the mailbox form. */
import type { MailSecurity } from './imap.js';

export type MailPresetId = 'gmail' | 'outlook' | 'yandex' | 'mailru' | 'custom';

export interface MailEndpoint {
  host: string;
  port: number;
  security: MailSecurity;
}

export interface LocalizedText {
  en: string;
  ru: string;
}

export interface MailPreset {
  id: MailPresetId;
  label: LocalizedText;
  /** Absent for `custom`: the person enters the server. */
  imap?: MailEndpoint;
  pop3?: MailEndpoint;
  /** What to do in the provider's settings before NotifyPro can log in. */
  notes: LocalizedText;
  /** Where to create an app password or enable access. */
  helpUrl?: string;
  /** The provider accepts (or requires) OAuth2 / XOAUTH2 instead of a password. */
  oauth2?: 'supported' | 'required';
}

export const mailPresets: readonly MailPreset[] = [
  {
    id: 'gmail',
    label: { en: 'Gmail / Google Workspace', ru: 'Gmail / Google Workspace' },
    imap: { host: 'imap.gmail.com', port: 993, security: 'tls' },
    pop3: { host: 'pop.gmail.com', port: 995, security: 'tls' },
    notes: {
      en: 'Turn on 2-Step Verification and use an app password (Google account → Security → App passwords), not your account password.',
      ru: 'Включите двухэтапную аутентификацию и используйте пароль приложения (Аккаунт Google → Безопасность → Пароли приложений), а не пароль от аккаунта.',
    },
    helpUrl: 'https://support.google.com/accounts/answer/185833',
    oauth2: 'supported',
  },
  {
    id: 'outlook',
    label: { en: 'Outlook.com / Microsoft 365', ru: 'Outlook.com / Microsoft 365' },
    imap: { host: 'outlook.office365.com', port: 993, security: 'tls' },
    pop3: { host: 'outlook.office365.com', port: 995, security: 'tls' },
    notes: {
      en: 'Microsoft has turned off password (basic) login for IMAP and POP3: connect with OAuth2 (XOAUTH2). In Microsoft 365 an admin must allow IMAP/POP for the mailbox.',
      ru: 'Microsoft отключил вход по паролю (basic auth) для IMAP и POP3: подключайтесь через OAuth2 (XOAUTH2). В Microsoft 365 администратор должен разрешить IMAP/POP для ящика.',
    },
    helpUrl:
      'https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth',
    oauth2: 'required',
  },
  {
    id: 'yandex',
    label: { en: 'Yandex Mail', ru: 'Яндекс Почта' },
    imap: { host: 'imap.yandex.com', port: 993, security: 'tls' },
    pop3: { host: 'pop.yandex.com', port: 995, security: 'tls' },
    notes: {
      en: 'Allow access by mail clients (Settings → Mail clients) and use an app password (Yandex ID → Security → App passwords).',
      ru: 'Разрешите доступ почтовым программам (Настройки → Почтовые программы) и используйте пароль приложения (Яндекс ID → Безопасность → Пароли приложений).',
    },
    helpUrl: 'https://yandex.com/support/mail/mail-clients/others.html',
    oauth2: 'supported',
  },
  {
    id: 'mailru',
    label: { en: 'Mail.ru', ru: 'Mail.ru' },
    imap: { host: 'imap.mail.ru', port: 993, security: 'tls' },
    pop3: { host: 'pop.mail.ru', port: 995, security: 'tls' },
    notes: {
      en: 'Create an app password (Settings → Security → Passwords for external applications); the account password does not work for IMAP/POP3.',
      ru: 'Создайте пароль для внешнего приложения (Настройки → Безопасность → Пароли для внешних приложений): пароль от ящика для IMAP/POP3 не подходит.',
    },
    helpUrl: 'https://help.mail.ru/mail/security/protection/external',
  },
  {
    id: 'custom',
    label: { en: 'Other server', ru: 'Другой сервер' },
    notes: {
      en: 'Enter your server. Usual ports: IMAP 993 (TLS) or 143 (STARTTLS), POP3 995 (TLS).',
      ru: 'Укажите свой сервер. Обычные порты: IMAP 993 (TLS) или 143 (STARTTLS), POP3 995 (TLS).',
    },
  },
];

export function findMailPreset(id: string): MailPreset | undefined {
  return mailPresets.find((preset) => preset.id === id);
}
