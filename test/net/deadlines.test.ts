import t, { type Test } from 'tap';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Deadlines } from '../../src/net/deadlines.js';
import { waitUntil } from '../helpers/daemon.js';

/** The Deadlines timer is unref'd (open sockets keep a daemon alive, not it): keep the test process alive meanwhile. */
function keepAlive(t: Test): void {
  const timer = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(timer));
}

/** Waits (up to 1 s) until `done` holds; the assertions after it tell what expired. */
async function expiries(done: () => boolean): Promise<void> {
  await waitUntil('expiries', () => (done() ? true : undefined), 1000, 2).catch(() => undefined);
}

t.test('items expire after their own limit, oldest first, each reported once with its start', async (t) => {
  keepAlive(t);
  const expired: [string, number, number][] = [];
  const deadlines = new Deadlines<string>((item, started) => expired.push([item, started, performance.now()]));
  const a = deadlines.add('a', 60);
  const b = deadlines.add('b', 60);
  const c = deadlines.add('c', 20);
  await sleep(40);
  t.same(expired.map(([item]) => item), ['c'], 'the shorter limit, added last, expires first');
  await expiries(() => expired.length >= 3);
  t.same(expired.map(([item]) => item), ['c', 'a', 'b']);
  t.same(expired.map(([, started]) => started), [c, a, b]);
  for (const [item, started, at] of expired) t.ok(at - started >= (item === 'c' ? 20 : 60) - 1, `${item} not before its limit`);
});

t.test('a deleted item never expires; delete tells when its limit started', async (t) => {
  keepAlive(t);
  const expired: string[] = [];
  const deadlines = new Deadlines<string>((item) => expired.push(item));
  const started = deadlines.add('a', 20);
  deadlines.add('b', 20);
  t.equal(deadlines.delete('a'), started);
  t.equal(deadlines.delete('a'), undefined, 'a second delete finds nothing');
  t.equal(deadlines.delete('never added'), undefined);
  await sleep(50);
  t.same(expired, ['b']);
});

t.test('after a quiet spell the timer is set again, and an item may be added from the expiry callback', async (t) => {
  keepAlive(t);
  const expired: string[] = [];
  const deadlines: Deadlines<string> = new Deadlines<string>((item) => {
    expired.push(item);
    if (item === 'first') deadlines.add('from-callback', 10);
  });
  deadlines.add('first', 10);
  await expiries(() => expired.length >= 2);
  t.same(expired, ['first', 'from-callback']);
  deadlines.add('later', 10);
  await expiries(() => expired.length >= 3);
  t.same(expired, ['first', 'from-callback', 'later']);
});

t.test('a sooner deadline added after a later one still fires on time', async (t) => {
  keepAlive(t);
  const expired: string[] = [];
  const deadlines = new Deadlines<string>((item) => expired.push(item));
  deadlines.add('slow', 10_000);
  deadlines.add('fast', 10);
  // Long before the slow one's 10 s.
  await expiries(() => expired.includes('fast'));
  t.same(expired, ['fast']);
  t.ok(deadlines.delete('slow') !== undefined, 'the later one still runs');
});
