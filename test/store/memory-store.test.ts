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

/** Issue 12, item 3: several deploys of one name. */
t.test('a stack per name: the newest is served; cleaning it by digest serves the previous; cleaning an older one changes nothing served', async (t) => {
  const store = new MemoryChallengeStore({ maxChallenges: 10 });
  t.teardown(() => store.close());
  const events: string[] = [];
  store.on('put', (c) => events.push(`put ${c.digest[0]}`));
  store.on('delete', (sni, reason) => events.push(`delete ${sni} ${reason}`));
  store.on('stack', (sni) => events.push(`stack ${sni}`));
  const name = parseIdentifier('a.example');
  const d = (fill: number) => new Uint8Array(32).fill(fill);
  const served = () => store.get('a.example')?.digest[0];
  await store.put(name, d(1), 60);
  await store.put(name, d(2), 60);
  t.equal(served(), 2, 'the newest deploy is served');
  t.equal(store.size, 1, 'one name');
  t.same(store.stack('a.example').map((c) => c.digest[0]), [1, 2]);
  t.same(store.listAll().map((c) => c.digest[0]), [1, 2]);
  t.equal(await store.delete('a.example', d(1)), true, 'clean of the older deploy (run A)');
  t.equal(served(), 2, 'B is still served');
  t.equal(await store.delete('a.example', d(9)), false, 'a digest not deployed removes nothing');
  await store.put(name, d(3), 60);
  t.equal(await store.delete('a.example', d(3)), true, 'clean of the newest');
  t.equal(served(), 2, 'the previous one is served again');
  t.equal(await store.delete('a.example', d(2)), true);
  t.equal(served(), undefined);
  t.equal(store.size, 0);
  t.same(events, ['put 1', 'put 2', 'stack a.example', 'put 3', 'put 2', 'delete a.example clean']);
});

t.test('the same digest again is one deploy, moved up with the new lifetime; the stack is bounded, oldest dropped', async (t) => {
  const store = new MemoryChallengeStore({ maxChallenges: 10 });
  t.teardown(() => store.close());
  const name = parseIdentifier('a.example');
  const d = (fill: number) => new Uint8Array(32).fill(fill);
  await store.put(name, d(1), 60);
  await store.put(name, d(2), 60);
  const again = await store.put(name, d(1), 120);
  t.same(store.stack('a.example').map((c) => c.digest[0]), [2, 1], 'moved to the top, not duplicated');
  t.equal(store.get('a.example'), again, 'with the new expiry');
  for (const fill of [3, 4, 5]) await store.put(name, d(fill), 60);
  t.same(store.stack('a.example').map((c) => c.digest[0]), [1, 3, 4, 5], 'at most 4 kept; the oldest dropped');
  t.equal(await store.delete('a.example'), true, 'clean without a digest');
  t.same(store.stack('a.example'), [], 'removes every deploy of the name');
});

t.test('an older deploy that expired is not served again when the newest is cleaned', async (t) => {
  let now = 1000;
  const store = new MemoryChallengeStore({ maxChallenges: 10, now: () => now });
  t.teardown(() => store.close());
  const name = parseIdentifier('a.example');
  const d = (fill: number) => new Uint8Array(32).fill(fill);
  const reasons: string[] = [];
  store.on('delete', (_sni, reason) => reasons.push(reason));
  await store.put(name, d(1), 5);
  await store.put(name, d(2), 60);
  now += 6000;
  t.equal(store.get('a.example')?.digest[0], 2);
  await store.delete('a.example', d(2));
  t.equal(store.get('a.example'), undefined, 'the expired one is not restored');
  t.same(reasons, ['clean']);
  await store.put(name, d(3), 60);
  await store.put(name, d(4), 5);
  now += 6000;
  t.equal(store.get('a.example')?.digest[0], 3, 'the newest expired: the previous live one is served');
});
