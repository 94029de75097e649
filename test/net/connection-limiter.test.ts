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

t.test('stalled challenge handshakes from many sources cannot lock out a CA: the heaviest source gives way', async (t) => {
  // Scaled-down attack: 8 sources each hold the per-source cap of stalled handshakes (hello sent, Finished never).
  const limiter = new ConnectionLimiter<string>({ maxConnections: 64, maxPerSource: 8 });
  const attackers: string[] = [];
  for (let source = 0; source < 9; source++) {
    for (let i = 0; i < 8; i++) {
      const id = `a${source}-${i}`;
      if (!limiter.admit(id, `attacker${source}`).ok) continue;
      limiter.challenge(id);
      attackers.push(id);
    }
  }
  t.ok(limiter.size <= 64 + 4, 'the table and its overflow are full of stalled handshakes');
  // The CA: several perspectives (sources), a few connections each, every one a challenge handshake.
  for (const perspective of ['ca1', 'ca2', 'ca3']) {
    for (let i = 0; i < 3; i++) {
      const id = `${perspective}-${i}`;
      const admission = limiter.admit(id, perspective);
      t.ok(admission.ok, `${id} is let in`);
      const evicted = limiter.challenge(id);
      for (const victim of [...(admission.ok ? admission.evicted : []), ...evicted]) {
        t.match(victim, /^a\d-/, `${id} made room by closing an attacker's handshake (${victim}), never a CA's`);
      }
    }
  }
  t.ok(limiter.size <= 64 + 4, 'still within the cap and its overflow');
});

t.test('at the full table, a newcomer evicts the oldest handshake of the heaviest source, never of one as light as its own', async (t) => {
  const limiter = new ConnectionLimiter<string>({ maxConnections: 4, maxPerSource: 3 });
  for (const id of ['a0', 'a1', 'b0', 'b1']) {
    limiter.admit(id, id[0]);
    limiter.challenge(id);
  }
  t.same(limiter.admit('a2', 'a'), { ok: true, evicted: [] }, 'over the cap, into the overflow');
  t.same(limiter.challenge('a2'), [], 'a holds 3, b 2: a has no heavier source to evict from; it stays over the cap');
  t.same(limiter.admit('b2', 'b'), { ok: false, reason: 'max-connections' }, 'b would hold 3, as many as a: refused');
  t.same(limiter.admit('ca', 'c'), { ok: true, evicted: ['a0'] }, 'c holds none: the oldest handshake of a (3) gives way');
  t.same(limiter.challenge('ca'), ['a1'], 'its handshake over the cap, no passthrough to close: a (2) is heavier than c (1)');
  t.equal(limiter.size, 4, 'back at the cap');
  limiter.admit('idle', 'd');
  t.same(limiter.admit('ca2', 'c'), { ok: true, evicted: ['idle'] }, 'connections still without a hello go first');
  t.same(limiter.challenge('ca2'), [], 'c holds 2 now, as many as b: nobody heavier gives way, it stays over the cap');
  t.equal(limiter.size, 5);
});
