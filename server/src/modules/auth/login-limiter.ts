/**
 * Counts failed logins per account in a sliding window and locks the account for a while once
 * the budget is spent. In memory, per api replica: with N replicas an attacker gets N budgets,
 * which still bounds guessing; the per-IP limit (@fastify/rate-limit) sits in front of it.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();
  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until the account may try again, or 0. */
  retryAfter(account: string): number {
    const recent = this.recent(account);
    if (recent.length < this.maxFailures) return 0;
    return Math.max(1, Math.ceil((recent[0]! + this.windowMs - this.now()) / 1000));
  }

  fail(account: string): void {
    const recent = this.recent(account);
    recent.push(this.now());
    this.failures.set(account, recent);
  }

  succeed(account: string): void {
    this.failures.delete(account);
  }

  private recent(account: string): number[] {
    const cutoff = this.now() - this.windowMs;
    const list = (this.failures.get(account) ?? []).filter((t) => t > cutoff);
    if (list.length === 0) this.failures.delete(account);
    return list;
  }
}
