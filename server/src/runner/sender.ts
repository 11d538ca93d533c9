import { InputFile, type Api } from 'grammy';
import { classifySendError, type SendFailure } from '../telegram/errors.js';
import { RateLimiter, defaultRateLimits, type RateLimits } from '../telegram/rate-limiter.js';
import { escapeHtml, telegramPlainText } from '../telegram/html.js';
import { CAPTION_LIMIT, MESSAGE_LIMIT, splitTelegramHtml } from '../telegram/split.js';
import { whileApiAway } from './retry.js';

/** A file of a claimed delivery; its bytes come from the internal API. */
export type ClaimedAttachment = {
  id: string;
  filename: string;
  contentType: string;
  size: number;
  /** Over the upload limit (or never stored): sent as a note instead. */
  oversize: boolean;
};
export type ClaimedDelivery = {
  id: string;
  seq: number;
  telegramChatId: number;
  chatType: string;
  /** Telegram HTML, rendered when the notification was accepted. */
  text: string;
  silent: boolean;
  disableLinkPreview: boolean;
  attempts: number;
  attachments?: ClaimedAttachment[];
  /** Message ids of the parts an earlier attempt got through: this one starts after them. */
  sentMessageIds?: number[];
};
/** What happened on the way, for the api's metrics. */
export type SendTelemetry = { rateLimited: number; sendLatencyMs: number[] };
export type DeliveryResult = (
  | { outcome: 'sent'; messageIds: number[] }
  | { outcome: 'retry'; error: string; retryAfterMs?: number; messageIds?: number[] }
  | { outcome: 'migrated'; newChatId: number; messageIds?: number[] }
  | { outcome: 'chat_gone'; reason: string; messageIds?: number[] }
  | { outcome: 'failed'; error: string; messageIds?: number[] }
  | { outcome: 'unknown'; error: string; messageIds?: number[] }
  /** Not attempted: handed back because an earlier delivery to the chat must go first. */
  | { outcome: 'released' }
) & { telemetry?: SendTelemetry };
export type InternalApi = {
  claim(limit: number, waitMs: number): Promise<ClaimedDelivery[]>;
  /** Answers the delivery's status after the report (`queued`: it goes again), when it can. */
  report(id: string, result: DeliveryResult): Promise<void | { status: string }>;
  /** The bytes of an attachment of a claimed delivery. */
  attachment?(id: string): Promise<Uint8Array>;
  /** Extends the leases of deliveries still held here; answers the lease's length. */
  renew?(ids: string[]): Promise<{ renewed: number; leaseMs: number }>;
};
export type SenderLimits = RateLimits;
type Log = {
  info?: (...a: unknown[]) => void;
  warn: (...a: unknown[]) => void;
  error: (...a: unknown[]) => void;
};

/** A result the api queues again (unless its attempts are spent). */
const goesAgain = (r: DeliveryResult) =>
  r.outcome === 'retry' ||
  r.outcome === 'unknown' ||
  r.outcome === 'migrated' ||
  r.outcome === 'released';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Telegram takes photos as photos up to 10 MB in these formats; anything else goes as a document. */
const PHOTO_TYPES = new Set(['image/jpeg', 'image/png', 'image/webp']);
const PHOTO_LIMIT = 10 * 1024 * 1024;

function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} B`;
}
const fileNote = (a: { filename: string; size: number }) =>
  `📎 ${escapeHtml(a.filename)} (${formatSize(a.size)}) — over Telegram's upload limit, not sent`;

/** One Bot API call of a delivery: a text part, or a file with an optional caption. */
type Step =
  | { kind: 'message'; html: string }
  | { kind: 'file'; attachment: ClaimedAttachment; caption?: string };

/**
 * The calls a delivery takes: without files, the text in parts of 4096; with files, the
 * first file captioned with the first 1024 of the text, the rest of the text as messages,
 * then the other files. Files over the upload limit become a line of the text.
 */
export function planSteps(d: ClaimedDelivery, canFetchFiles = true): Step[] {
  const files = (d.attachments ?? []).filter((a) => !a.oversize && canFetchFiles);
  const notes = (d.attachments ?? [])
    .filter((a) => a.oversize || !canFetchFiles)
    .map((a) => (a.oversize ? fileNote(a) : `📎 ${escapeHtml(a.filename)} — not sent`));
  const html = [d.text, ...notes].filter(Boolean).join('\n\n');
  if (!files.length)
    return splitTelegramHtml(html, { max: MESSAGE_LIMIT }).map((part) => ({
      kind: 'message',
      html: part,
    }));
  const [caption, ...rest] = splitTelegramHtml(html, {
    firstMax: CAPTION_LIMIT,
    max: MESSAGE_LIMIT,
  });
  return [
    { kind: 'file', attachment: files[0]!, ...(caption ? { caption } : {}) },
    ...rest.map((part): Step => ({ kind: 'message', html: part })),
    ...files.slice(1).map((attachment): Step => ({ kind: 'file', attachment })),
  ];
}

/** Claims deliveries for this bot and sends them: per chat in order, chats in parallel, under the limits. */
export function startDeliveryLoop(opts: {
  internalApi: InternalApi;
  botApi: Api;
  limits?: Partial<SenderLimits>;
  log: Log;
  batch?: number;
  /** When the first lease renewal goes (then every third of the lease). */
  renewFirstMs?: number;
}) {
  const limiter = new RateLimiter({ ...defaultRateLimits, ...opts.limits });
  const queues = new Map<number, ClaimedDelivery[]>();
  const running = new Set<number>();
  /**
   * Ids queued or being sent here. A lease can run out while its delivery still waits here (a
   * group's 20/min, a long backlog): this runner's next claim then gets it again, which renews
   * the lease — it must not be queued, and sent, a second time.
   */
  const held = new Set<string>();
  /**
   * Deliveries claimed again while their report was on its way: the api re-queues a migrated
   * (or released) one and wakes this runner, whose long poll can answer before the report's own
   * response arrives. Taken when the report is done, if the delivery goes again.
   */
  const reporting = new Map<string, ClaimedDelivery | undefined>();
  let stopped = false;
  let wake: (() => void) | undefined;

  /** Sends one step; on a 429 the bot pauses and the same step goes again. */
  async function call(
    d: ClaimedDelivery,
    step: Step,
    plain: boolean,
    telemetry: SendTelemetry,
  ): Promise<{ messageId: number } | SendFailure> {
    const common = {
      disable_notification: d.silent,
      ...(plain ? {} : { parse_mode: 'HTML' as const }),
    };
    let asDocument = false;
    for (;;) {
      const settle = await limiter.acquire(d.telegramChatId);
      const started = Date.now();
      try {
        let messageId: number;
        if (step.kind === 'message') {
          messageId = (
            await opts.botApi.sendMessage(
              d.telegramChatId,
              plain ? telegramPlainText(step.html) : step.html,
              {
                ...common,
                ...(d.disableLinkPreview ? { link_preview_options: { is_disabled: true } } : {}),
              },
            )
          ).message_id;
        } else {
          const a = step.attachment;
          if (!opts.internalApi.attachment) throw new Error('this runner cannot fetch attachments');
          const file = new InputFile(await opts.internalApi.attachment(a.id), a.filename);
          const caption = step.caption
            ? { caption: plain ? telegramPlainText(step.caption) : step.caption }
            : {};
          const photo = !asDocument && PHOTO_TYPES.has(a.contentType) && a.size <= PHOTO_LIMIT;
          messageId = (
            photo
              ? await opts.botApi.sendPhoto(d.telegramChatId, file, { ...common, ...caption })
              : await opts.botApi.sendDocument(d.telegramChatId, file, { ...common, ...caption })
          ).message_id;
        }
        settle();
        telemetry.sendLatencyMs.push(Date.now() - started);
        return { messageId };
      } catch (err) {
        settle();
        telemetry.sendLatencyMs.push(Date.now() - started);
        const failure = classifySendError(err);
        if (failure.kind === 'rate_limited') {
          telemetry.rateLimited++;
          limiter.pauseAll(failure.retryAfterMs);
          continue;
        }
        // A picture Telegram will not take as a photo (dimensions, format) still goes as a file.
        if (
          failure.kind === 'rejected' &&
          step.kind === 'file' &&
          !asDocument &&
          PHOTO_TYPES.has(step.attachment.contentType)
        ) {
          asDocument = true;
          continue;
        }
        return failure;
      }
    }
  }

  async function sendOne(d: ClaimedDelivery): Promise<DeliveryResult> {
    const telemetry: SendTelemetry = { rateLimited: 0, sendLatencyMs: [] };
    // One message id per step: the plan is the same on every attempt, so an earlier attempt's
    // ids say how many steps are done and this one resumes after them.
    const messageIds: number[] = [...(d.sentMessageIds ?? [])];
    let plain = false;
    // A runner without a file client (an older wiring) still sends the text, with the files named.
    const steps = planSteps(d, !!opts.internalApi.attachment);
    const done = (r: DeliveryResult): DeliveryResult => ({ ...r, telemetry });
    /**
     * A result with the parts sent so far: a later attempt — automatic, by another bot, or a
     * manual retry of a failed delivery — resumes after them instead of sending them again.
     */
    const later = (r: Exclude<DeliveryResult, { outcome: 'sent' | 'released' }>): DeliveryResult =>
      done(messageIds.length ? { ...r, messageIds: [...messageIds] } : r);
    for (let i = messageIds.length; i < steps.length; i++) {
      const step = steps[i]!;
      const r = await call(d, step, plain, telemetry);
      if ('messageId' in r) {
        messageIds.push(r.messageId);
        continue;
      }
      switch (r.kind) {
        case 'unparseable':
          // Telegram still refuses the markup: the rest of this delivery goes as plain text.
          if (plain) return later({ outcome: 'failed', error: r.description });
          plain = true;
          i--;
          continue;
        case 'too_large':
          if (step.kind === 'file') {
            // Its caption and a note go as one message in its place (still one id per step).
            steps[i] = {
              kind: 'message',
              html: [step.caption, fileNote(step.attachment)].filter(Boolean).join('\n\n'),
            };
            i--;
            continue;
          }
          return later({ outcome: 'failed', error: r.description });
        case 'migrated':
          return later({ outcome: 'migrated', newChatId: r.newChatId });
        case 'chat_gone':
          return later({ outcome: 'chat_gone', reason: r.description });
        case 'transient':
          return later({ outcome: 'retry', error: r.description });
        case 'unknown':
          // The request may have reached Telegram: the outcome is unknown.
          return later({ outcome: 'unknown', error: r.description });
        default:
          return later({ outcome: 'failed', error: r.description });
      }
    }
    if (!messageIds.length) return done({ outcome: 'failed', error: 'nothing to send' });
    return done({ outcome: 'sent', messageIds });
  }

  /**
   * Tells the api what became of a delivery. A report that does not arrive would let the lease
   * run out and the delivery go again — a message sent twice — so while the api is away (a
   * restart, a deploy) it is retried with backoff; the api answers a repeat with the status the
   * first one set. When this runner stops, or the report is refused for good, the lease decides.
   */
  async function report(d: ClaimedDelivery, result: DeliveryResult) {
    reporting.set(d.id, undefined);
    let again = goesAgain(result);
    try {
      const answer = await whileApiAway(() => opts.internalApi.report(d.id, result), {
        stopped: () => stopped,
        onRetry: (err, attempt) =>
          opts.log.warn({ err, deliveryId: d.id, attempt }, 'report failed; trying again'),
      });
      if (answer) again = answer.status === 'queued';
    } catch (e) {
      opts.log.error({ err: e, deliveryId: d.id, outcome: result.outcome }, 'report failed');
    }
    const claimedAgain = reporting.get(d.id);
    reporting.delete(d.id);
    held.delete(d.id);
    // Not taken if the report settled it (sent, failed, dead): a lease that ran out while it
    // was being sent let the claim have it, and sending it again would be a duplicate.
    if (claimedAgain && again) take(claimedAgain);
  }

  /** Queues a claimed delivery behind its chat's others (in seq order) and starts the chat. */
  function take(d: ClaimedDelivery) {
    held.add(d.id);
    const q = queues.get(d.telegramChatId) ?? [];
    queues.set(d.telegramChatId, q);
    const at = q.findIndex((o) => o.seq > d.seq);
    q.splice(at < 0 ? q.length : at, 0, d);
    if (!running.has(d.telegramChatId)) void drain(d.telegramChatId);
  }

  async function drain(chatId: number) {
    running.add(chatId);
    try {
      const q = queues.get(chatId)!;
      while (q.length && !stopped) {
        const d = q.shift()!;
        const result = await sendOne(d);
        // This one goes again: the chat's later deliveries must not overtake it. They go back
        // unattempted first, while its lease still holds them at the api; a claim after its
        // report can then have them all again, in order.
        if (goesAgain(result))
          for (const later of q.splice(0)) await report(later, { outcome: 'released' });
        await report(d, result);
      }
      // Stopping: what was claimed and not attempted goes back at once (not after the lease),
      // including what a last long poll hands out to this chat meanwhile.
      while (q.length) await report(q.shift()!, { outcome: 'released' });
    } finally {
      running.delete(chatId);
      queues.delete(chatId);
      wake?.();
    }
  }

  // Leases of what waits here are renewed at a third of their length (first after 5 s), so
  // they run out only if this runner dies.
  let renewTimer: ReturnType<typeof setTimeout> | undefined;
  const renewSoon = (ms: number) => {
    if (!opts.internalApi.renew || stopped) return;
    renewTimer = setTimeout(() => {
      const ids = [...held];
      if (!ids.length) return renewSoon(ms);
      opts.internalApi.renew!(ids).then(
        (r) => renewSoon(Math.max(200, Math.floor(r.leaseMs / 3))),
        (e: unknown) => {
          opts.log.warn({ err: e }, 'lease renewal failed');
          renewSoon(ms);
        },
      );
    }, ms);
    renewTimer.unref?.();
  };
  renewSoon(opts.renewFirstMs ?? 5_000);

  const loop = (async () => {
    while (!stopped) {
      try {
        if (running.size >= 50) {
          await new Promise<void>((r) => (wake = r));
          continue;
        }
        const batch = await opts.internalApi.claim(opts.batch ?? 100, 5_000);
        for (const d of batch) {
          if (reporting.has(d.id)) reporting.set(d.id, d);
          else if (!held.has(d.id)) take(d);
        }
        // The batch's first sends reach the Bot API client in this turn's promise jobs; the next
        // long poll waits for the next turn, so building and writing it does not delay them.
        if (batch.length) await new Promise((r) => setImmediate(r));
      } catch (e) {
        opts.log.warn({ err: e }, 'claim failed');
        await sleep(1000);
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      clearTimeout(renewTimer);
      wake?.();
      await Promise.race([loop, sleep(6000)]);
    },
  };
}
