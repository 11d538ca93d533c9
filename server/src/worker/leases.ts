/**
 * Mailbox leases in PostgreSQL: which worker replica watches which mailbox. The worker
 * serves every organization, so these queries are installation-wide on purpose (no org
 * scope): they touch only the lease columns and the replica registry.
 */
import { and, asc, count, eq, gt, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import type { Database, Executor } from '../db/client.js';
import { mailboxes, workerReplicas } from '../db/schema.js';

export type Mailbox = typeof mailboxes.$inferSelect;

const inFuture = (ms: number) => sql`now() + make_interval(secs => ${ms / 1000})`;
const inPast = (ms: number) => sql`now() - make_interval(secs => ${ms / 1000})`;

/** A watcher's commit found its mailbox no longer leased to this replica: nothing was written. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
}

export const leaseRepository = {
  /** Records this replica as alive; returns how many replicas are alive (this one included). */
  async heartbeat(db: Database, ownerId: string, ttlMs: number): Promise<number> {
    await db
      .insert(workerReplicas)
      .values({ id: ownerId })
      .onConflictDoUpdate({ target: workerReplicas.id, set: { heartbeatAt: sql`now()` } });
    // replicas silent for a long time are gone: keep the table small
    await db.delete(workerReplicas).where(lt(workerReplicas.heartbeatAt, inPast(ttlMs * 10)));
    const [row] = await db
      .select({ n: count() })
      .from(workerReplicas)
      .where(gt(workerReplicas.heartbeatAt, inPast(ttlMs)));
    return Math.max(1, row?.n ?? 1);
  },

  async countEnabled(db: Database): Promise<number> {
    const [row] = await db
      .select({ n: count() })
      .from(mailboxes)
      .where(eq(mailboxes.enabled, true));
    return row?.n ?? 0;
  },

  /** Extends this replica's leases on enabled mailboxes; returns those mailboxes as they are now. */
  async renew(db: Database, ownerId: string, ttlMs: number): Promise<Mailbox[]> {
    // One statement: a disabled mailbox's lease is dropped in the same look at the row (with
    // two, a mailbox disabled between them kept its lease for another round).
    const rows = await db
      .update(mailboxes)
      .set({
        leaseOwner: sql`case when ${mailboxes.enabled} then ${mailboxes.leaseOwner} end`,
        leaseExpiresAt: sql`case when ${mailboxes.enabled} then ${inFuture(ttlMs)} end`,
      })
      .where(eq(mailboxes.leaseOwner, ownerId))
      .returning();
    return rows.filter((m) => m.enabled);
  },

  /**
   * Claims up to `limit` enabled mailboxes that nobody holds or whose lease expired (a dead
   * replica's). SKIP LOCKED: replicas claiming at once never get the same mailbox.
   */
  async claim(db: Database, ownerId: string, ttlMs: number, limit: number): Promise<Mailbox[]> {
    if (limit <= 0) return [];
    const free = db
      .select({ id: mailboxes.id })
      .from(mailboxes)
      .where(
        and(
          eq(mailboxes.enabled, true),
          or(
            isNull(mailboxes.leaseOwner),
            isNull(mailboxes.leaseExpiresAt),
            lt(mailboxes.leaseExpiresAt, sql`now()`),
          ),
        ),
      )
      .orderBy(asc(mailboxes.leaseExpiresAt), asc(mailboxes.createdAt))
      .limit(limit)
      .for('update', { skipLocked: true });
    return db
      .update(mailboxes)
      .set({ leaseOwner: ownerId, leaseExpiresAt: inFuture(ttlMs) })
      .where(inArray(mailboxes.id, free))
      .returning();
  },

  /** Gives mailboxes back (graceful stop, or more than the fair share). */
  async release(db: Database, ownerId: string, ids?: string[]): Promise<void> {
    if (ids && !ids.length) return;
    await db
      .update(mailboxes)
      .set({ leaseOwner: null, leaseExpiresAt: null })
      .where(and(eq(mailboxes.leaseOwner, ownerId), ids ? inArray(mailboxes.id, ids) : undefined));
  },

  async leave(db: Database, ownerId: string): Promise<void> {
    await db.delete(workerReplicas).where(eq(workerReplicas.id, ownerId));
  },

  /**
   * Inside a watcher's commit: locks the mailbox row (NO KEY UPDATE: the events' foreign keys
   * of a parallel batch share the row) and checks the lease is still this replica's. Throws LeaseLostError (rolling the transaction back) when it is not, so a
   * replica that lost its lease while stalled never writes after the new owner.
   */
  async assertHeld(tx: Executor, orgId: string, mailboxId: string, ownerId: string) {
    const [row] = await tx
      .select({ id: mailboxes.id })
      .from(mailboxes)
      .where(
        and(
          eq(mailboxes.orgId, orgId),
          eq(mailboxes.id, mailboxId),
          eq(mailboxes.leaseOwner, ownerId),
        ),
      )
      .for('no key update');
    if (!row) throw new LeaseLostError(`mailbox ${mailboxId} is no longer leased to ${ownerId}`);
  },
};
