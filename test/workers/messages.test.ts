import t from 'tap';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { fromWire, isMessage, toWire } from '../../src/workers/messages.js';
import { sumActivity } from '../../src/workers/worker-pool.js';

const digest = Uint8Array.from({ length: 32 }, (_, i) => i);

t.test('a challenge crosses the channel unchanged', async (t) => {
  for (const text of ['a.example.test', '192.0.2.1', '2001:db8::1']) {
    const challenge = { identifier: parseIdentifier(text), digest, expiresAt: new Date('2030-01-02T03:04:05.678Z') };
    const back = fromWire(JSON.parse(JSON.stringify(toWire(challenge))));
    t.same(back, challenge, text);
  }
});

t.test('a malformed digest from the channel is refused', async (t) => {
  t.throws(() => fromWire({ identifier: 'a.example.test', digest: 'zz', expiresAt: '2030-01-01T00:00:00Z' }), { code: 'ERR_WORKER' });
});

t.test('only objects with a string t are messages', async (t) => {
  t.ok(isMessage({ t: 'ready' }));
  for (const value of [null, undefined, 'ready', 3, {}, { t: 1 }]) t.notOk(isMessage(value), String(JSON.stringify(value)));
});

t.test('worker counters add up', async (t) => {
  const sum = sumActivity([
    { served: 3, passed: 1, rejected: 2, servedBySni: [['a.example.test', 2], ['b.example.test', 1]] },
    { served: 4, passed: 0, rejected: 5, servedBySni: [['a.example.test', 4]] },
  ]);
  t.equal(sum.served, 7);
  t.equal(sum.passed, 1);
  t.equal(sum.rejected, 7);
  t.same([...sum.servedBySni], [['a.example.test', 6], ['b.example.test', 1]]);
  t.same(sumActivity([]), { served: 0, passed: 0, rejected: 0, servedBySni: new Map() });
});
