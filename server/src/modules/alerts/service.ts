/**
 * Alerts that use the product itself: the housekeeping calls `evaluateAlerts` every minute
 * or so. A failing bot, mailbox or org's deliveries opens an alert; once it has lasted the
 * org's threshold (deliveries: at once, their failure is already final or long) it fires:
 * one message to the org's alert chat, through another working bot where there is one, and
 * a log row. No repeats while it stays open, except a reminder every `alertReminderHours`.
 * When the condition clears, a fired alert sends "resolved" and closes.
 */
import type { Database } from '../../db/client.js';
import type { AlertKind } from '../../db/schema.js';
import type { Logger } from '../../logger.js';
import { logRepository } from '../logs/repository.js';
import { enqueueNotification } from '../notifications/service.js';
import {
  alertRepository,
  DEFAULT_ALERT_AFTER_MINUTES,
  DEFAULT_ALERT_REMINDER_HOURS,
  type Alert,
  type AlertCondition,
} from './repository.js';

export type AlertSettings = { chatId: string | null; afterMinutes: number; reminderHours: number };

/** The org's alert settings (organizations.settings), with defaults. */
export function alertSettingsOf(settings: Record<string, unknown> | undefined): AlertSettings {
  const s = settings ?? {};
  const num = (v: unknown, fallback: number) =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fallback;
  return {
    chatId: typeof s.alertChatId === 'string' && s.alertChatId ? s.alertChatId : null,
    afterMinutes: num(s.alertAfterMinutes, DEFAULT_ALERT_AFTER_MINUTES),
    reminderHours: num(s.alertReminderHours, DEFAULT_ALERT_REMINDER_HOURS),
  };
}

type Phase = 'fired' | 'reminder' | 'resolved';
type Language = 'en' | 'ru';

const subjectText: Record<Language, (kind: AlertKind, name: string | null) => string> = {
  en: (kind, name) =>
    kind === 'bot' ? `Bot "${name}"` : kind === 'mailbox' ? `Mailbox "${name}"` : 'Deliveries',
  ru: (kind, name) =>
    kind === 'bot'
      ? `Бот «${name}»`
      : kind === 'mailbox'
        ? `Почтовый ящик «${name}»`
        : 'Доставка сообщений',
};

/** The alert chat's message, in the org's language. */
export function alertMessage(
  alert: Pick<Alert, 'kind' | 'subjectName' | 'detail' | 'openedAt'>,
  phase: Phase,
  language: Language,
  now: Date,
  failures?: number,
): string {
  const subject = subjectText[language](alert.kind, alert.subjectName);
  const minutes = Math.max(1, Math.round((now.getTime() - alert.openedAt.getTime()) / 60_000));
  const detail = alert.detail ? `: ${alert.detail}` : '';
  const count =
    alert.kind === 'deliveries' && failures
      ? language === 'ru'
        ? ` (${failures} с ошибкой)`
        : ` (${failures} failing)`
      : '';
  if (language === 'ru') {
    if (phase === 'resolved')
      return `✅ NotifyPro: ${subject} — снова в порядке (сбой длился ${minutes} мин).`;
    if (phase === 'reminder')
      return `⏰ NotifyPro: ${subject} — сбой продолжается ${Math.round(minutes / 60)} ч${count}${detail}`;
    return `⚠️ NotifyPro: ${subject} — сбой${count}${detail}`;
  }
  if (phase === 'resolved')
    return `✅ NotifyPro: ${subject} — working again (failed for ${minutes} min).`;
  if (phase === 'reminder')
    return `⏰ NotifyPro: ${subject} — still failing after ${Math.round(minutes / 60)} h${count}${detail}`;
  return `⚠️ NotifyPro: ${subject} — failing${count}${detail}`;
}

export type AlertRound = { opened: number; fired: number; reminded: number; resolved: number };

const keyOf = (a: { orgId: string; kind: string; subjectId: string }) =>
  `${a.orgId}:${a.kind}:${a.subjectId}`;

/** One pass over every organization (the caller holds the housekeeping lock). */
export async function evaluateAlerts(
  db: Database,
  options: { runnerStaleSeconds: number; log?: Logger },
): Promise<AlertRound> {
  const now = new Date();
  const round: AlertRound = { opened: 0, fired: 0, reminded: 0, resolved: 0 };
  const conditions = [
    ...(await alertRepository.failingBots(db, options.runnerStaleSeconds)),
    ...(await alertRepository.failingMailboxes(db)),
    ...(await alertRepository.failingDeliveries(db)),
  ];
  const open = await alertRepository.openAll(db);
  const settings = await alertRepository.settingsOf(db, [
    ...new Set([...conditions, ...open].map((c) => c.orgId)),
  ]);
  const openByKey = new Map(open.map((a) => [keyOf(a), a]));
  const current = new Map(conditions.map((c) => [keyOf(c), c]));

  const notify = async (alert: Alert, phase: Phase, failures?: number) => {
    const org = settings.get(alert.orgId);
    const s = alertSettingsOf(org);
    const language: Language = org?.language === 'ru' ? 'ru' : 'en';
    const text = alertMessage(alert, phase, language, now, failures);
    await db.transaction(async (tx) => {
      let sent = false;
      if (s.chatId) {
        const candidates = (await alertRepository.botsForChat(tx, alert.orgId, s.chatId)).filter(
          // never through the bot the alert is about
          (b) => !(alert.kind === 'bot' && b.id === alert.subjectId),
        );
        const fresh = (b: (typeof candidates)[number]) =>
          b.status === 'running' &&
          !!b.lastHeartbeatAt &&
          now.getTime() - b.lastHeartbeatAt.getTime() < options.runnerStaleSeconds * 1000;
        const bot = candidates.find(fresh) ?? candidates.find((b) => b.status !== 'error');
        if (bot) {
          try {
            await tx.transaction((sp) =>
              enqueueNotification(sp, alert.orgId, {
                source: 'api',
                text,
                format: 'text',
                targets: [{ chatId: s.chatId!, botId: bot.id }],
                // one message per alert and phase, whatever happens to this round
                idempotencyKey: `alert:${alert.id}:${phase}:${phase === 'reminder' ? now.toISOString().slice(0, 13) : ''}`,
              }),
            );
            sent = true;
          } catch (err) {
            options.log?.warn({ err, alertId: alert.id }, 'alert notification not enqueued');
          }
        }
      }
      await logRepository.write(tx, alert.orgId, {
        level: phase === 'resolved' ? 'info' : 'warn',
        source: 'alerts',
        message:
          alertMessage(alert, phase, 'en', now, failures) +
          (s.chatId && !sent ? ' (no working bot could tell the alert chat)' : ''),
        context: {
          alertId: alert.id,
          kind: alert.kind,
          subjectId: alert.subjectId,
          phase,
          notified: sent,
        },
      });
      await alertRepository.update(tx, alert.orgId, alert.id, {
        ...(phase === 'fired' ? { firedAt: now } : {}),
        ...(phase === 'resolved' ? { resolvedAt: now } : {}),
        ...(sent ? { lastNotifiedAt: now } : {}),
      });
    });
  };

  // one subject's trouble (its org deleted mid-round…) must not stop the others'
  const guarded = async (key: string, step: () => Promise<void>) => {
    try {
      await step();
    } catch (err) {
      options.log?.error({ err, alert: key }, 'alert evaluation failed');
    }
  };

  const evaluate = async (key: string, c: AlertCondition) => {
    let alert = openByKey.get(key);
    const s = alertSettingsOf(settings.get(c.orgId));
    if (!alert) {
      alert = (await alertRepository.open(db, c, false)) ?? undefined;
      if (!alert) return;
      round.opened++;
    } else if (alert.detail !== c.detail || alert.subjectName !== c.subjectName) {
      await alertRepository.update(db, c.orgId, alert.id, {
        detail: c.detail,
        subjectName: c.subjectName,
      });
      alert = { ...alert, detail: c.detail, subjectName: c.subjectName };
    }
    if (!alert.firedAt) {
      const lasted = now.getTime() - alert.openedAt.getTime() >= s.afterMinutes * 60_000;
      // a delivery's failure is final (or has been retried past the threshold) when seen
      if (lasted || c.kind === 'deliveries') {
        await notify(alert, 'fired', c.failures);
        round.fired++;
      }
      return;
    }
    const last = alert.lastNotifiedAt ?? alert.firedAt;
    if (s.reminderHours > 0 && now.getTime() - last.getTime() >= s.reminderHours * 3_600_000) {
      await notify(alert, 'reminder', c.failures);
      round.reminded++;
    }
  };
  const close = async (alert: Alert) => {
    if (!alert.firedAt) return alertRepository.discard(db, alert.orgId, alert.id);
    await notify(alert, 'resolved');
    round.resolved++;
  };

  for (const [key, c] of current) await guarded(key, () => evaluate(key, c));
  for (const [key, alert] of openByKey)
    if (!current.has(key)) await guarded(key, () => close(alert));
  return round;
}
