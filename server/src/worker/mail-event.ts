import type { Executor } from '../db/client.js';
import { parseMail } from '../mail/mime.js';
import type { IngestInput } from '../modules/events/service.js';
import { logRepository } from '../modules/logs/repository.js';
import type { Mailbox } from './leases.js';

const addressList = (list: { address: string; name: string }[]) =>
  list.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ');

/**
 * Parses a raw message into the event to ingest. A message that cannot be parsed becomes an
 * event carrying the error (recorded, matched by no rule), so the mailbox keeps flowing.
 */
export async function mailEventInput(
  mb: Pick<Mailbox, 'id' | 'name'>,
  raw: Buffer,
  key: { uidValidity?: string; uid?: number },
): Promise<IngestInput> {
  try {
    const mail = await parseMail(raw);
    return {
      source: 'mail',
      mailboxId: mb.id,
      mailboxName: mb.name,
      uidValidity: key.uidValidity ?? null,
      uid: key.uid ?? null,
      messageId: mail.messageId ?? null,
      subject: mail.subject,
      from: addressList(mail.from),
      to: addressList(mail.to),
      text: mail.text,
      headers: mail.headers,
    };
  } catch (e) {
    return {
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
    message: `A message in "${mb.name}" (${where}) could not be parsed; recorded as an event with the error`,
    context: { mailboxId: mb.id, error: input.error },
  });
}
