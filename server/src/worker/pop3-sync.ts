import { and, eq, sql } from 'drizzle-orm';
import { mailboxes, pop3SeenUids } from '../db/schema.js';
import { assertPublicMailHost } from '../mail/host-guard.js';
import { openPop3Session } from '../mail/pop3.js';
import { ingestEvent } from '../modules/events/service.js';
import { mailCredentials } from '../modules/mailboxes/credentials.js';
import type { SyncDeps } from './imap-sync.js';
import { leaseRepository, type Mailbox } from './leases.js';
import { logUnparseable, MAX_MESSAGE_BYTES, mailEventInput } from './mail-event.js';

/** `mailboxes.uid_validity` of a POP3 mailbox whose first poll recorded what was there. */
export const POP3_BASELINE_TAKEN = 'uidl';

/** The message's UIDL was recorded by an earlier (or concurrent) poll: roll this one back. */
class AlreadySeen extends Error {}

/**
 * One POP3 poll: log in, list UIDLs, ingest each message whose UIDL was not seen (the UIDL
 * recorded in the same transaction as its event), forget UIDLs no longer on the server,
 * QUIT. Mail stays on the server. The first successful poll of a mailbox is its baseline:
 * what is there already is marked seen, not sent. Returns how many events were written.
 */
export async function pollPop3(
  deps: SyncDeps,
  mb: Mailbox,
  options: { forceRefresh?: boolean; signal?: AbortSignal } = {},
): Promise<number> {
  const checked = await assertPublicMailHost(mb.host, { allowPrivate: deps.allowPrivateHosts });
  const session = await openPop3Session(
    {
      host: checked.address,
      servername: checked.servername,
      port: mb.port,
      security: mb.security,
      username: mb.username,
      ...(await mailCredentials(deps, mb, options)),
    },
    deps.log,
  );
  const scope = and(eq(mailboxes.orgId, mb.orgId), eq(mailboxes.id, mb.id));
  let written = 0;
  try {
    const fetchStartedAt = performance.now();
    const listing = await session.listUidl();
    const uids = listing.map((m) => m.uid);

    // the baseline is taken once per mailbox (again after its server or user changes): POP3
    // has no UIDVALIDITY, so the column records that it was taken
    if (mb.uidValidity !== POP3_BASELINE_TAKEN) {
      await deps.db.transaction(async (tx) => {
        if (deps.leaseOwner) await leaseRepository.assertHeld(tx, mb.orgId, mb.id, deps.leaseOwner);
        for (let i = 0; i < uids.length; i += 1000)
          await tx
            .insert(pop3SeenUids)
            .values(uids.slice(i, i + 1000).map((uid) => ({ mailboxId: mb.id, uid })))
            .onConflictDoNothing();
        await tx.update(mailboxes).set({ uidValidity: POP3_BASELINE_TAKEN }).where(scope);
      });
      mb.uidValidity = POP3_BASELINE_TAKEN;
      return 0;
    }

    const seen = new Set(
      (
        await deps.db
          .select({ uid: pop3SeenUids.uid })
          .from(pop3SeenUids)
          .where(eq(pop3SeenUids.mailboxId, mb.id))
      ).map((r) => r.uid),
    );
    for (const { msgNo, uid } of listing.sort((a, b) => a.msgNo - b.msgNo)) {
      if (seen.has(uid)) continue;
      if (options.signal?.aborted) break;
      // A message over the limit is read in its first part only (TOP), and summarized.
      const max = deps.maxMessageBytes ?? MAX_MESSAGE_BYTES;
      const size = await session.size(msgNo);
      const big = size > max;
      const raw = big
        ? (await session.top(msgNo, 2_000)).subarray(0, max)
        : await session.retrieve(msgNo);
      const fetchedAt = performance.now();
      const input = await mailEventInput(mb, raw, {}, big ? { size } : undefined);
      const parsedAt = performance.now();
      try {
        await ingestEvent({ db: deps.db }, mb.orgId, input, async (tx) => {
          if (deps.leaseOwner)
            await leaseRepository.assertHeld(tx, mb.orgId, mb.id, deps.leaseOwner);
          const fresh = await tx
            .insert(pop3SeenUids)
            .values({ mailboxId: mb.id, uid })
            .onConflictDoNothing()
            .returning({ uid: pop3SeenUids.uid });
          if (!fresh.length) throw new AlreadySeen();
          await logUnparseable(tx, mb, input, `UIDL ${uid}`);
          await tx
            .update(mailboxes)
            .set({ lastMessageAt: new Date(), status: 'ok', lastError: null })
            .where(scope);
        });
        written++;
      } catch (err) {
        if (!(err instanceof AlreadySeen)) throw err;
      }
      deps.onIngested?.({
        mailboxId: mb.id,
        uid,
        fetchStartedAt,
        fetchedAt,
        parsedAt,
        committedAt: performance.now(),
      });
    }
    // messages deleted from the server: their UIDLs need not be remembered
    await deps.db
      .delete(pop3SeenUids)
      .where(
        and(
          eq(pop3SeenUids.mailboxId, mb.id),
          sql`${pop3SeenUids.uid} <> all(${sql.param(uids)}::text[])`,
        ),
      );
    return written;
  } finally {
    await session.quit();
  }
}
