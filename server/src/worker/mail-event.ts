import type { Executor } from '../db/client.js';
import { parseMail } from '../mail/mime.js';
import type { IngestInput } from '../modules/events/service.js';
import { logRepository } from '../modules/logs/repository.js';
import type { Mailbox } from './leases.js';

// PostgreSQL text and jsonb cannot hold U+0000
const noNul = (s: string) => (s.includes('\u0000') ? s.split('\u0000').join('') : s);
/** Telegram's upload limit for bots; bigger files are kept as name and size only (sent as a note). */
const MAX_FORWARDED_ATTACHMENT = 50 * 1024 * 1024;
/**
 * The most of one message the worker reads (and keeps as raw MIME). A bigger message is
 * recorded and summarized from its first part — headers and the start of its text — with a
 * note, and its attachments are not forwarded; it is never dropped.
 */
export const MAX_MESSAGE_BYTES = 25 * 1024 * 1024;
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

const addressList = (list: { address: string; name: string }[]) =>
  noNul(list.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', '));

/**
 * Parses a raw message into the event to ingest. A message that cannot be parsed becomes an
 * event carrying the error (recorded, matched by no rule), so the mailbox keeps flowing.
 */
export async function mailEventInput(
  mb: Pick<Mailbox, 'id' | 'name'>,
  raw: Buffer,
  key: { uidValidity?: string; uid?: number },
  /** Set when only the first bytes of a bigger message were fetched. */
  cut?: { size: number },
): Promise<IngestInput> {
  try {
    const mail = await parseMail(raw, { maxAttachmentBytes: MAX_FORWARDED_ATTACHMENT });
    const note = cut
      ? `\n\n[This message is ${mib(cut.size)}; only its first ${mib(raw.length)} were read, so its attachments are not forwarded.]`
      : '';
    return {
      raw,
      source: 'mail',
      mailboxId: mb.id,
      mailboxName: mb.name,
      uidValidity: key.uidValidity ?? null,
      uid: key.uid ?? null,
      // at most 998 characters (RFC 5322's line limit): a longer one could not be indexed
      messageId: mail.messageId ? noNul(mail.messageId).slice(0, 998) : null,
      subject: noNul(mail.subject),
      from: addressList(mail.from),
      to: addressList(mail.to),
      text: noNul(mail.text) + note,
      headers: Object.fromEntries(
        Object.entries(mail.headers).map(([k, v]) => [noNul(k), noNul(v)]),
      ),
      // Files a rule may forward; inline parts (images shown in the body) are not files.
      attachments: mail.attachments
        .filter((a) => !a.inline && !cut)
        .map((a, i) => ({
          filename: noNul(a.filename ?? `attachment-${i + 1}`),
          contentType: a.contentType,
          size: a.size,
          content: a.content ?? Buffer.alloc(0),
        })),
    };
  } catch (e) {
    return {
      raw,
      source: 'mail',
      mailboxId: mb.id,
      mailboxName: mb.name,
      uidValidity: key.uidValidity ?? null,
      uid: key.uid ?? null,
      error: `cannot parse: ${(e as Error).message}`,
    };
  }
}

/** The log row for an unparseable message, written in the ingest transaction. */
export async function logUnparseable(
  tx: Executor,
  mb: Pick<Mailbox, 'id' | 'name' | 'orgId'>,
  input: IngestInput,
  where: string,
): Promise<void> {
  if (!input.error) return;
  await logRepository.write(tx, mb.orgId, {
    level: 'warn',
    source: 'mail',
    message: `A message in "${mb.name}" (${where}) could not be parsed or stored; recorded as an event with the error`,
    context: { mailboxId: mb.id, error: input.error },
  });
}
