/**
 * Deadlines on a fake clock: node:test's mock timers for its one setTimeout, and a clock the test advances with them,
 * so each limit is checked to the millisecond — expired at it, not a millisecond before — whatever the machine's load.
 */
import { mock } from 'node:test';
import t, { type Test } from 'tap';
import { Deadlines } from '../../src/net/deadlines.js';

/** A fake clock for test `t`: `now()` reads it, `tick(ms)` advances it and fires the timers due by then. */
function fakeClock(t: Test): { now: () => number; tick: (ms: number) => void } {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.teardown(() => mock.timers.reset());
  let now = 1000;
  return {
    now: () => now,
    // One millisecond at a time, so that a timer set from a callback runs against the clock as it is then.
    tick: (ms) => {
      for (let i = 0; i < ms; i++) {
        now++;
        mock.timers.tick(1);
      }
    },
  };
}

t.test('items expire after their own limit, oldest first, each reported once with its start', async (t) => {
  const clock = fakeClock(t);
  const expired: [string, number, number][] = [];
  const deadlines = new Deadlines<string>((item, started) => expired.push([item, started, clock.now()]), clock.now);
  const a = deadlines.add('a', 60);
  const b = deadlines.add('b', 60);
  clock.tick(5);
  const c = deadlines.add('c', 20);
  clock.tick(19);
  t.same(expired, [], 'nothing 1 ms before the first limit');
  clock.tick(1);
  t.same(expired.map(([item]) => item), ['c'], 'the shorter limit, added last, expires first, at its limit');
  clock.tick(34);
  t.same(expired.map(([item]) => item), ['c'], 'a and b not 1 ms before theirs');
  clock.tick(1);
  t.same(expired, [['c', c, c + 20], ['a', a, a + 60], ['b', b, b + 60]], 'each at its limit, with its start');
  clock.tick(1000);
  t.equal(expired.length, 3, 'each reported once');
});

t.test('a deleted item never expires; delete tells when its limit started', async (t) => {
  const clock = fakeClock(t);
  const expired: string[] = [];
  const deadlines = new Deadlines<string>((item) => expired.push(item), clock.now);
  const started = deadlines.add('a', 20);
  deadlines.add('b', 20);
  t.equal(deadlines.delete('a'), started);
  t.equal(deadlines.delete('a'), undefined, 'a second delete finds nothing');
  t.equal(deadlines.delete('never added'), undefined);
  clock.tick(50);
  t.same(expired, ['b']);
});

t.test('after a quiet spell the timer is set again, and an item may be added from the expiry callback', async (t) => {
  const clock = fakeClock(t);
  const expired: [string, number][] = [];
  const deadlines: Deadlines<string> = new Deadlines<string>((item) => {
    expired.push([item, clock.now()]);
    if (item === 'first') deadlines.add('from-callback', 10);
  }, clock.now);
  const first = deadlines.add('first', 10);
  clock.tick(20);
  t.same(expired, [['first', first + 10], ['from-callback', first + 20]]);
  clock.tick(500);
  const later = deadlines.add('later', 10);
  clock.tick(9);
  t.equal(expired.length, 2);
  clock.tick(1);
  t.same(expired[2], ['later', later + 10]);
});

t.test('a sooner deadline added after a later one still fires on time', async (t) => {
  const clock = fakeClock(t);
  const expired: [string, number][] = [];
  const deadlines = new Deadlines<string>((item) => expired.push([item, clock.now()]), clock.now);
  deadlines.add('slow', 10_000);
  const fast = deadlines.add('fast', 10);
  clock.tick(10);
  t.same(expired, [['fast', fast + 10]], 'at its own 10 ms, not the slow one\'s 10 s');
  t.ok(deadlines.delete('slow') !== undefined, 'the later one still runs');
});

t.test('on the real clock (performance.now and a real timer): an item expires, not before its limit', async (t) => {
  // The timer is unref'd (open sockets keep a daemon alive, not it): keep the test process alive meanwhile.
  const keepAlive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(keepAlive));
  const expiredAt = await new Promise<[number, number]>((resolve) => {
    const deadlines = new Deadlines<string>((_, started) => resolve([started, performance.now()]));
    deadlines.add('real', 20);
  });
  t.ok(expiredAt[1] - expiredAt[0] >= 20 - 1, `expired ${(expiredAt[1] - expiredAt[0]).toFixed(1)} ms after it started`);
});
