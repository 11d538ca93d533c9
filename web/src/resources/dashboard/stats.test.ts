import { describe, expect, it } from 'vitest';
import { formatMs, normalizeStats } from './stats';

describe('normalizeStats', () => {
  it('sums per-day rows across sources and derives the success rate', () => {
    const s = normalizeStats({
      perDay: [
        { date: '2025-01-02', source: 'mail', sent: 5, failed: 1, dead: 0 },
        { date: '2025-01-01', source: 'webhook', sent: 2, failed: 0, dead: 2 },
        { date: '2025-01-02', source: 'webhook', sent: 3, failed: 0, dead: 0 },
      ],
      latencyMs: { p50: 612, p95: 1840 },
    });
    expect(s.days.map((d) => [d.date, d.sent, d.dead])).toEqual([
      ['2025-01-01', 2, 2],
      ['2025-01-02', 8, 0],
    ]);
    expect(s.successRate).toBeCloseTo(10 / 13);
    expect([s.latencyP50Ms, s.latencyP95Ms]).toEqual([612, 1840]);
  });

  it('takes an explicit rate (fraction or percent) and flat latency fields', () => {
    expect(normalizeStats({ successRate: 0.95 }).successRate).toBe(0.95);
    expect(normalizeStats({ deliveries: { successRate: 99 } }).successRate).toBeCloseTo(0.99);
    expect(normalizeStats({ latencyP95Ms: 20 }).latencyP95Ms).toBe(20);
    expect(normalizeStats(null)).toMatchObject({ days: [], successRate: null, latencyP50Ms: null });
  });

  it('formats latencies', () => {
    expect([formatMs(null), formatMs(12.4), formatMs(1530), formatMs(65_000)]).toEqual([
      '—',
      '12 ms',
      '1.5 s',
      '65 s',
    ]);
    expect(formatMs(1530, { ms: 'мс', s: 'с' })).toBe('1.5 с');
    expect(formatMs(12, { ms: 'мс', s: 'с' })).toBe('12 мс');
  });
});
