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
      l.record(5, 0)(0);
    }
    expect(l.delayFor(5, 0)).toBe(1000);
    expect(l.delayFor(5, 600)).toBe(400);
    expect(l.delayFor(5, 1000)).toBe(0);
    expect(l.delayFor(6, 0)).toBe(0); // another chat is not held
  });

  it('holds the 31st send in any window of a little over a second, across chats', () => {
    const l = new RateLimiter(limits);
    for (let i = 0; i < 30; i++) l.record(100 + i, i * 10)(i * 10);
    expect(l.delayFor(999, 300)).toBe(1050 - 300);
    expect(l.delayFor(999, 1049)).toBe(1);
    expect(l.delayFor(999, 1050)).toBe(0);
    l.record(999, 1050)(1050);
    expect(l.delayFor(998, 1050)).toBe(10); // the next one waits for the send at 10 ms to leave
  });

  it('holds a group after 20 in a minute; private chats (id > 0) have no minute limit', () => {
    const l = new RateLimiter({ ...limits, chatBurst: 100, chatPerSecond: 100 });
    for (let i = 0; i < 20; i++) l.record(-42, i * 1100)(i * 1100);
    expect(l.delayFor(-42, 22_000)).toBe(60_500 - 22_000);
    for (let i = 0; i < 20; i++) l.record(42, 100_000 + i * 1100)(100_000 + i * 1100);
    expect(l.delayFor(42, 122_000)).toBe(0);
  });

  it('counts a send from its answer: no refill while the request was on its way', () => {
    const l = new RateLimiter(limits);
    for (let i = 0; i < 2; i++) l.record(7, 0)(0);
    const settle = l.record(7, 0);
    settle(800); // the answer came 800 ms later: Telegram may have counted it then
    expect(l.delayFor(7, 1000)).toBe(800);
    expect(l.delayFor(7, 1800)).toBe(0);
  });

  it('by default keeps windows 2 ms over Telegram’s (the accounting is exact)', () => {
    const l = new RateLimiter(defaultRateLimits);
    for (let i = 0; i < 30; i++) l.record(100 + i, 0)(0);
    expect(l.delayFor(999, 0)).toBe(1002);
    expect(l.delayFor(999, 1002)).toBe(0);
  });

  it('counts each send from its answer, and one still in flight as now', () => {
    const l = new RateLimiter(limits);
    const settles = Array.from({ length: 30 }, (_, i) => l.record(100 + i, 0));
    expect(l.delayFor(999, 100)).toBe(1050); // in flight: each may arrive right now
    expect(l.delayFor(999, 5000)).toBe(1050); // however long they take
    for (const settle of settles) settle(5080); // answered: Telegram counted them by 5080
    expect(l.delayFor(999, 5100)).toBe(5080 + 1050 - 5100);
    expect(l.delayFor(999, 6129)).toBe(1);
    expect(l.delayFor(999, 6130)).toBe(0);
  });

  it('takes a chat token at the start and refills it only from the answer', () => {
    const l = new RateLimiter(limits);
    for (let i = 0; i < 2; i++) l.record(8, 0)(0);
    const settle = l.record(8, 0);
    expect(l.delayFor(8, 2000)).toBeGreaterThan(0); // in flight: no refill yet
    settle(2000);
    expect(l.delayFor(8, 2500)).toBe(500);
    expect(l.delayFor(8, 3000)).toBe(0);
  });

  it('acquire lets a waiting send go as soon as the answer that held it comes in', async () => {
    const l = new RateLimiter({ ...limits, chatBurst: 100, chatPerSecond: 100 });
    const settles = Array.from({ length: 30 }, (_, i) => l.record(100 + i, Date.now() - 5000));
    let went = false;
    const next = l.acquire(999).then((s) => {
      went = true;
      return s;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(went).toBe(false);
    // Answered (so counted) 5 s ago: out of the window, and the waiting send goes at once.
    for (const settle of settles) settle(Date.now() - 5000);
    (await next)();
    expect(went).toBe(true);
  });

  it('when the window opens, the sends waiting go in the order they came, each chat as ready', async () => {
    const l = new RateLimiter({ ...limits, chatBurst: 1, chatPerSecond: 1 });
    // 30 in flight, one of them to chat 7 (its only token).
    const settles = [7, ...Array.from({ length: 29 }, (_, i) => 100 + i)].map((chat) =>
      l.record(chat, Date.now() - 5000),
    );
    const order: number[] = [];
    const waiting = [7, 1, 5, 3].map((chat) =>
      l.acquire(chat).then((settle) => {
        order.push(chat);
        return settle;
      }),
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual([]); // 30 in flight
    settles[1]!(Date.now() - 5000); // one slot opens: the first that came and may go takes it
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual([1]);
    settles[0]!(Date.now() - 500); // 7's answer: its token is back in 500 ms
    for (const settle of settles.slice(2)) settle(Date.now() - 5000);
    for (const settle of await Promise.all(waiting)) settle();
    expect(order).toEqual([1, 5, 3, 7]); // 7 once its token is back
  });

  it('pauseAll holds every chat for retry_after', () => {
    const l = new RateLimiter(limits);
    l.pauseAll(3000, 0);
    expect(l.delayFor(1, 0)).toBe(3000);
    expect(l.delayFor(-1, 2500)).toBe(500);
    expect(l.delayFor(1, 3000)).toBe(0);
  });
});
