/** Reads `GET …/stats` into what the dashboard draws, tolerant of the server's exact field names. */
export interface DayPoint {
  date: string;
  sent: number;
  failed: number;
  dead: number;
  events: number;
}

export interface DashboardStats {
  days: DayPoint[];
  successRate: number | null;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  totals: { sent: number; failed: number; dead: number; events: number };
}

type Obj = Record<string, unknown>;
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const obj = (v: unknown): Obj =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {};

function pick(o: Obj, ...keys: string[]): number | null {
  for (const k of keys) {
    const v = num(o[k]);
    if (v !== null) return v;
  }
  return null;
}

/**
 * Accepts `{perDay|days|deliveriesPerDay: [{date|day, sent, failed, dead, events|total…}]}` or a
 * `{bySource, …}` per-day list with a `source`; success rate as 0–1 or percent; latency as
 * `{latency|latencyMs: {p50, p95}}` or flat `latencyP50Ms`.
 */
export function normalizeStats(raw: unknown): DashboardStats {
  const root = obj(raw);
  const deliveries = obj(root.deliveries);
  const list = [root.perDay, root.days, root.deliveriesPerDay, root.daily, deliveries.perDay].find(
    Array.isArray,
  ) as unknown[] | undefined;
  const byDate = new Map<string, DayPoint>();
  for (const item of list ?? []) {
    const o = obj(item);
    const date = String(o.date ?? o.day ?? '').slice(0, 10);
    if (!date) continue;
    const p = byDate.get(date) ?? { date, sent: 0, failed: 0, dead: 0, events: 0 };
    const d = obj(o.deliveries);
    p.sent += pick(o, 'sent', 'delivered') ?? pick(d, 'sent') ?? 0;
    p.failed += pick(o, 'failed') ?? pick(d, 'failed') ?? 0;
    p.dead += pick(o, 'dead') ?? pick(d, 'dead') ?? 0;
    p.events += pick(o, 'events', 'count', 'total') ?? 0;
    byDate.set(date, p);
  }
  const days = [...byDate.values()].sort((a, b) => a.date.localeCompare(b.date));
  const sum = (k: keyof Omit<DayPoint, 'date'>) => days.reduce((s, d) => s + d[k], 0);
  const totals = {
    sent: pick(deliveries, 'sent') ?? sum('sent'),
    failed: pick(deliveries, 'failed') ?? sum('failed'),
    dead: pick(deliveries, 'dead') ?? sum('dead'),
    events: pick(obj(root.events), 'total') ?? pick(root, 'events', 'eventsTotal') ?? sum('events'),
  };
  let rate = pick(root, 'successRate', 'deliverySuccessRate') ?? pick(deliveries, 'successRate');
  if (rate === null) {
    const done = totals.sent + totals.failed + totals.dead;
    rate = done > 0 ? totals.sent / done : null;
  } else if (rate > 1) rate = rate / 100;
  const lat = { ...obj(root.latency), ...obj(root.latencyMs), ...obj(deliveries.latencyMs) };
  return {
    days,
    successRate: rate,
    latencyP50Ms: pick(lat, 'p50', 'p50Ms') ?? pick(root, 'latencyP50Ms', 'p50Ms'),
    latencyP95Ms: pick(lat, 'p95', 'p95Ms') ?? pick(root, 'latencyP95Ms', 'p95Ms'),
    totals,
  };
}

/** Milliseconds for people: `12 ms`, `1.5 s`, `65 s`; `units` carries the translated unit names. */
export function formatMs(
  ms: number | null,
  units: { ms: string; s: string } = { ms: 'ms', s: 's' },
): string {
  if (ms === null) return '—';
  return ms >= 10_000
    ? `${(ms / 1000).toFixed(0)} ${units.s}`
    : ms >= 1000
      ? `${(ms / 1000).toFixed(1)} ${units.s}`
      : `${Math.round(ms)} ${units.ms}`;
}
