import { describe, expect, it } from 'vitest';
import { RateLimiter, defaultRateLimits } from './rate-limiter.js';

const limits = {
  perSecond: 30,
  chatBurst: 3,
  chatPerSecond: 1,
  groupPerMinute: 20,
  windowMarginMs: 50,
};

describe('RateLimiter', () => {
  it('lets a chat burst 3, then 1 per second', () => {
    const l = new RateLimiter(limits);
    for (let i = 0; i < 3; i++) {
      expect(l.delayFor(5, 0)).toBe(0);
      l.record(5, 0);
    }
    expect(l.delayFor(5, 0)).toBe(1000);
    expect(l.delayFor(5, 600)).toBe(400);
    expect(l.delayFor(5, 1000)).toBe(0);
    expect(l.delayFor(6, 0)).toBe(0); // another chat is not held
  });

  it('holds the 31st send in any window of a little over a second, across chats', () => {
    const l = new RateLimiter(limits);
    for (let i = 0; i < 30; i++) l.record(100 + i, i * 10);
    expect(l.delayFor(999, 300)).toBe(1050 - 300);
    expect(l.delayFor(999, 1049)).toBe(1);
    expect(l.delayFor(999, 1050)).toBe(0);
    l.record(999, 1050);
    expect(l.delayFor(998, 1050)).toBe(10); // the next one waits for the send at 10 ms to leave
  });

  it('holds a group after 20 in a minute; private chats (id > 0) have no minute limit', () => {
    const l = new RateLimiter({ ...limits, chatBurst: 100, chatPerSecond: 100 });
    for (let i = 0; i < 20; i++) l.record(-42, i * 1100);
    expect(l.delayFor(-42, 22_000)).toBe(60_500 - 22_000);
    for (let i = 0; i < 20; i++) l.record(42, 100_000 + i * 1100);
    expect(l.delayFor(42, 122_000)).toBe(0);
  });

  it('counts a send from its answer: no refill while the request was on its way', () => {
    const l = new RateLimiter(limits);
    for (let i = 0; i < 2; i++) l.record(7, 0);
    const settle = l.record(7, 0);
    settle(800); // the answer came 800 ms later: Telegram may have counted it then
    expect(l.delayFor(7, 1000)).toBe(800);
    expect(l.delayFor(7, 1800)).toBe(0);
  });

  it('by default keeps windows 10 ms over Telegram’s (sends already count from their answer)', () => {
    const l = new RateLimiter(defaultRateLimits);
    for (let i = 0; i < 30; i++) l.record(100 + i, 0);
    expect(l.delayFor(999, 0)).toBe(1010);
    expect(l.delayFor(999, 1010)).toBe(0);
  });

  it('pauseAll holds every chat for retry_after', () => {
    const l = new RateLimiter(limits);
    l.pauseAll(3000, 0);
    expect(l.delayFor(1, 0)).toBe(3000);
    expect(l.delayFor(-1, 2500)).toBe(500);
    expect(l.delayFor(1, 3000)).toBe(0);
  });
});
