import t from 'tap';
import { TokenBucket } from '../src/token-bucket.js';

t.test('allows a burst, then one token per 1/rate seconds', async (t) => {
  let now = 0;
  const bucket = new TokenBucket(10, 3, () => now);
  t.same([bucket.take(), bucket.take(), bucket.take()], [0, 0, 0], 'the burst is free');
  t.equal(bucket.take(), 100, 'the 4th waits for the next token');
  t.equal(bucket.take(), 200, 'the 5th waits in turn behind it');
  now = 1000;
  t.equal(bucket.take(), 0, 'refilled after a second');
  now = 100_000;
  t.same([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [0, 0, 0, 100], 'never saves more than the burst');
});

t.test('tryTake refuses when empty without going into debt; full once refilled', async (t) => {
  let now = 0;
  const bucket = new TokenBucket(10, 2, () => now);
  t.equal(bucket.full(), true, 'starts full');
  t.same([bucket.tryTake(), bucket.tryTake(), bucket.tryTake()], [true, true, false], 'the burst, then a refusal');
  t.equal(bucket.full(), false);
  now = 50;
  t.equal(bucket.tryTake(), false, 'half a token is not a token');
  now = 100;
  t.equal(bucket.tryTake(), true, 'a refusal cost nothing: the next token comes after 1/rate seconds');
  now = 300;
  t.equal(bucket.full(), true, 'refilled to the burst');
});
