import t from 'tap';
import { ConnectionLimiter } from '../../src/net/connection-limiter.js';

t.test('at the cap, evicts the oldest connections still without a hello', async (t) => {
  const limiter = new ConnectionLimiter<string>({ maxConnections: 3, maxPerSource: 10 });
  t.same(limiter.admit('a', 's'), { ok: true, evicted: [] });
  t.same(limiter.admit('b', 's'), { ok: true, evicted: [] });
  t.same(limiter.admit('c', 's'), { ok: true, evicted: [] });
  limiter.helloComplete('a');
  t.same(limiter.admit('d', 's'), { ok: true, evicted: ['b'] }, 'a is past its hello: b, the oldest waiting, goes');
  limiter.release('b'); // its close event, later: a no-op
  t.equal(limiter.size, 3);
  limiter.helloComplete('c');
  limiter.helloComplete('d');
  t.same(limiter.admit('e', 's'), { ok: false, reason: 'max-connections' }, 'nobody to evict: refused');
  limiter.release('a');
  t.same(limiter.admit('e', 's'), { ok: true, evicted: [] });
});

t.test('caps each source, counting a PROXY header client once it is known', async (t) => {
  const limiter = new ConnectionLimiter<string>({ maxConnections: 100, maxPerSource: 2 });
  t.ok(limiter.admit('a', 'x').ok);
  t.ok(limiter.admit('b', 'x').ok);
  t.same(limiter.admit('c', 'x'), { ok: false, reason: 'max-connections-per-source' });
  t.ok(limiter.admit('c', 'y').ok, 'another source is unaffected');
  limiter.release('a');
  t.ok(limiter.admit('d', 'x').ok, 'a slot freed by release');
  for (const id of ['p1', 'p2', 'p3']) t.ok(limiter.admit(id, undefined).ok, 'unknown sources count in the total only');
  t.equal(limiter.reattribute('p1', 'z'), true);
  t.equal(limiter.reattribute('p2', 'z'), true);
  t.equal(limiter.reattribute('p3', 'z'), false, 'the third from z is over its cap');
  t.equal(limiter.size, 5, 'and released');
  limiter.reconfigure({ maxConnections: 5, maxPerSource: 2 });
  t.same(limiter.admit('q', 'w'), { ok: true, evicted: ['b'] }, 'a lower cap applies to new connections');
});
