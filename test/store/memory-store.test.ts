import t from 'tap';
import { once } from 'node:events';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { MemoryChallengeStore } from '../../src/store/memory-store.js';

const digest = new Uint8Array(32).fill(7);

t.test('put, get, replace, delete, list', async (t) => {
  const store = new MemoryChallengeStore({ maxChallenges: 10 });
  t.teardown(() => store.close());
  const events: string[] = [];
  store.on('put', (c) => events.push(`put ${c.identifier.sni}`));
  store.on('delete', (sni, reason) => events.push(`delete ${sni} ${reason}`));
  const a = parseIdentifier('A.Example.');
  const before = Date.now();
  const first = await store.put(a, digest, 60);
  t.equal(first.identifier.sni, 'a.example');
  t.ok(first.expiresAt.getTime() >= before + 60_000);
  t.equal(store.get('a.example'), first);
  const second = await store.put(a, new Uint8Array(32).fill(8), 60);
  t.equal(store.size, 1, 'a redeploy replaces');
  t.equal(store.get('a.example'), second);
  await store.put(parseIdentifier('127.0.0.1'), digest, 60);
  t.same(store.list().map((c) => c.identifier.sni).sort(), ['1.0.0.127.in-addr.arpa', 'a.example']);
  t.equal(await store.delete('a.example'), true);
  t.equal(await store.delete('a.example'), false);
  t.same(events, ['put a.example', 'put a.example', 'put 1.0.0.127.in-addr.arpa', 'delete a.example clean']);
});

t.test('the stored digest is a copy', async (t) => {
  const store = new MemoryChallengeStore({ maxChallenges: 10 });
  t.teardown(() => store.close());
  const mine = new Uint8Array(32).fill(1);
  const stored = await store.put(parseIdentifier('a.example'), mine, 60);
  mine.fill(2);
  t.equal(stored.digest[0], 1);
});

t.test('refuses beyond the cap, but a replacement still fits', async (t) => {
  const store = new MemoryChallengeStore({ maxChallenges: 2 });
  t.teardown(() => store.close());
  await store.put(parseIdentifier('a.example'), digest, 60);
  await store.put(parseIdentifier('b.example'), digest, 60);
  await t.rejects(store.put(parseIdentifier('c.example'), digest, 60), { code: 'ERR_TOO_MANY_CHALLENGES' });
  await t.resolves(store.put(parseIdentifier('a.example'), digest, 60));
});

t.test('expiry follows the monotonic deadline on lookup', async (t) => {
  let now = 1000;
  const store = new MemoryChallengeStore({ maxChallenges: 10, now: () => now });
  t.teardown(() => store.close());
  const reasons: string[] = [];
  store.on('delete', (_sni, reason) => reasons.push(reason));
  await store.put(parseIdentifier('a.example'), digest, 5);
  now += 4999;
  t.ok(store.get('a.example'));
  now += 1;
  t.equal(store.get('a.example'), undefined);
  t.same(store.list(), []);
  t.same(reasons, ['expired']);
});

t.test('the expiry timer removes a challenge on its own', async (t) => {
  const store = new MemoryChallengeStore({ maxChallenges: 10 });
  t.teardown(() => store.close());
  await store.put(parseIdentifier('a.example'), digest, 1);
  // The store's timers are unref'd so they never hold a daemon open; the test must.
  const keepAlive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(keepAlive));
  const [sni, reason] = await once(store, 'delete');
  t.same([sni, reason], ['a.example', 'expired']);
  t.equal(store.size, 0);
  await store.close();
  await store.close();
});
