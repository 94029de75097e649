import t from 'tap';
import { ConnectionLimiter } from '../../src/net/connection-limiter.js';

t.test('at the cap, evicts the oldest connections still without a hello', async (t) => {
  const limiter = new ConnectionLimiter<string>({ maxConnections: 3, maxPerSource: 10 });
  t.same(limiter.admit('a', 's'), { ok: true, evicted: [] });
  t.same(limiter.admit('b', 's'), { ok: true, evicted: [] });
  t.same(limiter.admit('c', 's'), { ok: true, evicted: [] });
  t.same(limiter.challenge('a'), []);
  t.same(limiter.admit('d', 's'), { ok: true, evicted: ['b'] }, 'a is past its hello: b, the oldest waiting, goes');
  limiter.release('b'); // its close event, later: a no-op
  t.equal(limiter.size, 3);
  t.same(limiter.challenge('c'), []);
  t.same(limiter.challenge('d'), []);
  t.same(limiter.admit('e', 's'), { ok: true, evicted: [] }, 'nobody to evict: admitted over the cap, to be judged by its hello');
  t.equal(limiter.size, 4);
  t.same(limiter.admit('f', 's'), { ok: true, evicted: ['e'] }, 'over the cap, a newcomer still evicts whoever waits for a hello');
  t.same(limiter.challenge('f'), [], 'a challenge handshake stays over the cap');
  t.same(limiter.admit('g', 's'), { ok: false, reason: 'max-connections' }, 'the overflow (1 per 16 of the cap) is full: refused');
  limiter.release('a');
  limiter.release('f');
  t.same(limiter.admit('g', 's'), { ok: true, evicted: [] });
});

t.test('handshakes for deployed names are preferred: passthrough makes room for them, not the other way round', async (t) => {
  const limiter = new ConnectionLimiter<string>({ maxConnections: 3, maxPerSource: 10 });
  for (const id of ['p1', 'p2', 'c1']) limiter.admit(id, 's');
  t.equal(limiter.passThrough('p1'), true);
  t.equal(limiter.passThrough('p2'), true);
  t.same(limiter.challenge('c1'), []);
  t.same(limiter.admit('ca', 's'), { ok: true, evicted: [] }, 'every slot past its hello: let in over the cap');
  t.same(limiter.challenge('ca'), ['p1'], 'a challenge handshake: the oldest passed-through connection makes room');
  t.equal(limiter.size, 3);
  limiter.release('p1');
  t.same(limiter.admit('web', 's'), { ok: true, evicted: [] });
  t.equal(limiter.passThrough('web'), false, 'for a backend over the cap: refused, and released');
  t.equal(limiter.size, 3);
  limiter.admit('refused', 's');
  t.same(limiter.admit('next', 's'), { ok: true, evicted: ['refused'] }, 'refused at its hello (never routed): first to go');
  t.same(limiter.challenge('next'), ['p2']);
  t.same(limiter.admit('more', 's'), { ok: true, evicted: [] });
  t.same(limiter.challenge('more'), [], 'no passthrough left: the challenge handshake stays over the cap');
  t.equal(limiter.size, 4);
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
