import t from 'tap';
import { HandshakeRate } from '../../src/net/handshake-rate.js';

t.test('a burst per source, then the rate; other sources are unaffected', async (t) => {
  let now = 0;
  const rate = new HandshakeRate({ perSecond: 2, burst: 3 }, () => now);
  t.same([1, 2, 3, 4].map(() => rate.allow('a')), [true, true, true, false], 'the burst, then refused');
  t.equal(rate.allow('b'), true, 'another source has its own bucket');
  now = 500;
  t.equal(rate.allow('a'), true, 'one more token after 1/rate seconds');
  t.equal(rate.allow('a'), false);
  rate.reconfigure({ perSecond: 2, burst: 1 });
  t.equal(rate.allow('a'), true, 'a reload starts every source again');
  t.equal(rate.allow('a'), false, 'with the new burst');
});

t.test('buckets that have refilled are forgotten', async (t) => {
  let now = 0;
  const rate = new HandshakeRate({ perSecond: 1, burst: 1 }, () => now);
  rate.allow('a');
  rate.allow('b');
  t.equal(rate.size, 2);
  now = 10_000;
  t.equal(rate.allow('c'), true);
  t.equal(rate.size, 1, 'a and b refilled long ago: only c is tracked');
});
