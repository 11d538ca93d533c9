import { and, eq } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { mailboxes } from '../db/schema.js';
import type { SecretBox } from '../crypto/secrets.js';
import { assertPublicMailHost } from '../mail/host-guard.js';
import { openImapSession, type ImapSession } from '../mail/imap.js';
import { parseMail } from '../mail/mime.js';
import { ingestEvent } from '../modules/events/service.js';
import { logRepository } from '../modules/logs/repository.js';

type Mailbox = typeof mailboxes.$inferSelect;
export type SyncDeps = { db: Database; secrets: SecretBox; allowPrivateHosts: boolean };

const addressList = (list: { address: string; name: string }[]) =>
  list.map((a) => (a.name ? `${a.name} <${a.address}>` : a.address)).join(', ');

/** Opens an IMAP session for a stored mailbox, behind the SSRF guard. */
export async function openMailboxSession(deps: SyncDeps, mb: Mailbox): Promise<ImapSession> {
  const checked = await assertPublicMailHost(mb.host, { allowPrivate: deps.allowPrivateHosts });
  return openImapSession({
    host: checked.address,
    servername: checked.servername,
    port: mb.port,
    security: mb.security,
    username: mb.username,
    password: deps.secrets.decrypt(mb.secretEncrypted),
    folder: mb.folder,
  });
}

/**
 * Ingests everything above the mailbox's cursor, each message in its own transaction with
 * the cursor advance. A new UIDVALIDITY (or none yet) sets a baseline at the current UIDNEXT
 * without ingesting old mail. Returns how many events were written.
 */
export async function catchUpImap(
  deps: SyncDeps,
  mb: Mailbox,
  session: ImapSession,
): Promise<number> {
  const { uidValidity, uidNext } = session.mailbox;
  if (mb.uidValidity !== uidValidity) {
    if (mb.uidValidity !== null)
      await logRepository.write(deps.db, mb.orgId, {
        level: 'warn',
        source: 'mail',
        message: `UIDVALIDITY of "${mb.name}" changed (${mb.uidValidity} → ${uidValidity}): new baseline, old mail not re-sent`,
        context: { mailboxId: mb.id },
      });
    await deps.db
      .update(mailboxes)
      .set({ uidValidity, lastUid: uidNext - 1 })
      .where(and(eq(mailboxes.orgId, mb.orgId), eq(mailboxes.id, mb.id)));
    mb.uidValidity = uidValidity;
    mb.lastUid = uidNext - 1;
  }
  let written = 0;
  for await (const message of session.fetchSince(mb.lastUid ?? 0)) {
    let input;
    try {
      const mail = await parseMail(message.raw);
      input = {
        source: 'mail' as const,
        mailboxId: mb.id,
        mailboxName: mb.name,
        uidValidity,
        uid: message.uid,
        messageId: mail.messageId ?? null,
        subject: mail.subject,
        from: addressList(mail.from),
        to: addressList(mail.to),
        text: mail.text,
        headers: mail.headers,
      };
    } catch (e) {
      input = {
        source: 'mail' as const,
        mailboxId: mb.id,
        uidValidity,
        uid: message.uid,
        error: `cannot parse: ${(e as Error).message}`,
      };
    }
    const result = await ingestEvent({ db: deps.db }, mb.orgId, input, async (tx) => {
      await tx
        .update(mailboxes)
        .set({ lastUid: message.uid, lastMessageAt: new Date(), status: 'ok', lastError: null })
        .where(and(eq(mailboxes.orgId, mb.orgId), eq(mailboxes.id, mb.id)));
    });
    if (!result)
      await deps.db
        .update(mailboxes)
        .set({ lastUid: message.uid })
        .where(and(eq(mailboxes.orgId, mb.orgId), eq(mailboxes.id, mb.id)));
    else written++;
    mb.lastUid = message.uid;
  }
  return written;
}
