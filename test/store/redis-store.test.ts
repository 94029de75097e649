/**
 * RedisChallengeStore against a real redis-server: several stores (as several daemons would) sharing one Redis.
 */
import t, { type Test } from 'tap';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { hasCode } from '../../src/errors.js';
import type { Logger, LogLevel, LogValue } from '../../src/log.js';
import type { Challenge } from '../../src/challenge/challenge.js';
import { RedisChallengeStore } from '../../src/store/redis-store.js';
import { parseRedisTarget } from '../../src/store/redis-target.js';
import { openSharedStore } from '../../src/store/shared-store.js';
import { freePort, requirePeers, waitUntil } from '../helpers/daemon.js';
import { documentedAcl, REDIS_PEERS, startRedis, type RedisServer } from '../helpers/redis.js';
import { shortTempDir } from '../helpers/tmp.js';

interface Event {
  level: LogLevel;
  event: string;
  fields: Readonly<Record<string, LogValue>>;
}

const digestOf = (n: number): Uint8Array => new Uint8Array(32).fill(n);
const hex = (c: Challenge | undefined): string | undefined => (c === undefined ? undefined : Buffer.from(c.digest).toString('hex'));

function recorder(): { log: Logger; events: Event[] } {
  const events: Event[] = [];
  return { events, log: { log: (level, event, fields = {}) => events.push({ level, event, fields }) } };
}

async function open(t: Test, redis: RedisServer, options: { prefix: string; userinfo?: string; maxChallenges?: number; timeoutMs?: number }) {
  const { log, events } = recorder();
  const store = await RedisChallengeStore.open({
    target: parseRedisTarget(redis.url(options.userinfo)),
    prefix: options.prefix,
    timeoutMs: options.timeoutMs ?? 2000,
    maxChallenges: options.maxChallenges ?? 100,
    log,
  });
  t.teardown(() => store.close());
  return { store, events };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const peers = requirePeers(t, [...REDIS_PEERS]);
let shared: RedisServer | undefined;
t.before(async () => {
  if (peers.skip !== undefined) return;
  shared = await startRedis(shortTempDir(t, 'ar-redis-'));
});
t.teardown(() => shared?.stop());
const redis = (): RedisServer => shared ?? t.fail('no redis') as never;

t.test('stores sharing a Redis see each other\'s deploys, cleans and expiries', peers, async (t) => {
  const a = await open(t, redis(), { prefix: 'share:' });
  const b = await open(t, redis(), { prefix: 'share:' });
  const seenByB: string[] = [];
  b.store.on('put', (c) => seenByB.push(`put ${c.identifier.sni} ${hex(c)?.slice(0, 2)}`));
  b.store.on('delete', (sni, reason) => seenByB.push(`delete ${sni} ${reason}`));
  const id = parseIdentifier('A.Example.Test');

  const put = await a.store.put(id, digestOf(1), 60);
  t.equal(a.store.get('a.example.test'), put, 'put resolves once the writer holds the challenge');
  const onB = await waitUntil('b has the deploy', () => b.store.get('a.example.test'), 2000, 1);
  t.equal(hex(onB), hex(put));
  t.ok(Math.abs(onB.expiresAt.getTime() - put.expiresAt.getTime()) < 500, 'the same expiry on both');
  const admin = redis().admin();
  const ttl = await admin.pttl('share:challenge:a.example.test');
  t.ok(ttl > 58_000 && ttl <= 60_000, `the key's TTL is the challenge's (${ttl} ms)`);

  await b.store.put(id, digestOf(2), 60);
  await waitUntil('a has the redeploy', () => (hex(a.store.get('a.example.test')) === '02'.repeat(32) ? true : undefined), 2000, 1);
  t.equal(a.store.size, 1);

  t.equal(await b.store.delete('a.example.test'), true, 'clean reports the removal');
  await waitUntil('a dropped it', () => (a.store.get('a.example.test') === undefined ? true : undefined), 2000, 1);
  t.equal(await admin.exists('share:challenge:a.example.test'), 0, 'the key is gone');
  t.equal(await a.store.delete('a.example.test'), false, 'a second clean finds nothing');

  await a.store.put(parseIdentifier('short.example.test'), digestOf(3), 0.3);
  await waitUntil('b has the short one', () => b.store.get('short.example.test'), 2000, 1);
  await waitUntil('b expired it', () => (seenByB.includes('delete short.example.test expired') ? true : undefined), 3000);
  t.equal(a.store.get('short.example.test'), undefined, 'expired on the writer too');
  t.equal(await admin.exists('share:challenge:short.example.test'), 0, 'Redis expired the key');
  t.same(seenByB, [
    'put a.example.test 01',
    'put a.example.test 02',
    'delete a.example.test clean',
    'put short.example.test 03',
    'delete short.example.test expired',
  ]);
});

t.test('concurrent redeploys of one name end the same on every node', peers, async (t) => {
  const a = await open(t, redis(), { prefix: 'race:' });
  const b = await open(t, redis(), { prefix: 'race:' });
  const admin = redis().admin();
  const id = parseIdentifier('race.example.test');
  for (let round = 0; round < 20; round++) {
    await Promise.all([a.store.put(id, digestOf(2 * round), 60), b.store.put(id, digestOf(2 * round + 1), 60)]);
    const stored = JSON.parse((await admin.get('race:challenge:race.example.test')) ?? '{}') as { digest?: string };
    await waitUntil(
      `round ${round}: both hold what Redis holds`,
      () => (hex(a.store.get(id.sni)) === stored.digest && hex(b.store.get(id.sni)) === stored.digest ? true : undefined),
      2000,
      1,
    );
  }
  t.pass('20 rounds of simultaneous redeploys converged');
});

t.test('several deploys of one name across nodes: a clean by digest removes only that one, on every node and in Redis', peers, async (t) => {
  const a = await open(t, redis(), { prefix: 'stack:' });
  const b = await open(t, redis(), { prefix: 'stack:' });
  const admin = redis().admin();
  const id = parseIdentifier('stack.example.test');
  const key = 'stack:challenge:stack.example.test';
  const inRedis = async (): Promise<string | undefined> => (JSON.parse((await admin.get(key)) ?? '{}') as { digest?: string }).digest;
  const everywhere = (digest: string | undefined, what: string) =>
    waitUntil(what, async () => (hex(a.store.get(id.sni)) === digest && hex(b.store.get(id.sni)) === digest && (await inRedis()) === digest ? true : undefined));
  await a.store.put(id, digestOf(1), 60);
  await b.store.put(id, digestOf(2), 60);
  await everywhere('02'.repeat(32), 'the newest deploy is served everywhere');
  t.equal(await a.store.delete(id.sni, digestOf(2)), true, 'node a cleans the newest deploy, by digest');
  await everywhere('01'.repeat(32), 'the previous deploy is served again on both nodes, and Redis holds it');
  const ttl = await admin.pttl(key);
  t.ok(ttl > 50_000 && ttl <= 60_000, `with its own remaining lifetime (${ttl} ms)`);
  await b.store.put(id, digestOf(3), 60);
  t.equal(await a.store.delete(id.sni, digestOf(1)), true, 'an older deploy cleaned');
  await everywhere('03'.repeat(32), 'the newest stays served');
  t.same(b.store.listAll().map(hex), ['03'.repeat(32)], 'the older one is gone on the other node too');
  t.equal(await b.store.delete(id.sni, digestOf(9)), false, 'a digest not deployed removes nothing');
  t.equal(await b.store.delete(id.sni, digestOf(3)), true, 'the last one');
  await everywhere(undefined, 'nothing served, and the key gone');
});

t.test('a store that starts later loads what Redis holds, skipping what no daemon wrote', peers, async (t) => {
  const a = await open(t, redis(), { prefix: 'load:' });
  await a.store.put(parseIdentifier('good.example.test'), digestOf(4), 30);
  await a.store.put(parseIdentifier('10.0.0.1'), digestOf(5), 30);
  const admin = redis().admin();
  const digest = '06'.repeat(32);
  await admin.set('load:challenge:junk.example.test', 'not json', 'PX', 30_000);
  await admin.set('load:challenge:forever.example.test', `{"v":1,"id":"0123456789abcdef","identifier":"forever.example.test","digest":"${digest}"}`);
  await admin.set('load:challenge:other.example.test', `{"v":1,"id":"0123456789abcdef","identifier":"mismatch.example.test","digest":"${digest}"}`, 'PX', 30_000);
  await admin.set('load:unrelated', 'x');

  const b = await open(t, redis(), { prefix: 'load:' });
  t.same(b.store.list().map((c) => c.identifier.sni).sort(), ['1.0.0.10.in-addr.arpa', 'good.example.test']);
  const loaded = b.store.get('good.example.test');
  const ttl = (loaded?.expiresAt.getTime() ?? 0) - Date.now();
  t.ok(ttl > 25_000 && ttl <= 30_000, `the remaining TTL comes from Redis (${ttl} ms)`);
  const bad = b.events.filter((e) => e.event === 'store-bad-record').map((e) => `${e.fields.key} ${e.fields.reason}`).sort();
  t.match(bad, [/^load:challenge:forever.example.test the key has no TTL$/, /^load:challenge:junk.example.test not JSON$/, /^load:challenge:other.example.test the key does not match/]);
  t.match(b.events.find((e) => e.event === 'store-synced')?.fields, { reason: 'start', challenges: 2, bad: 3 });

  await admin.publish('load:events', '{"v":1,"op":"put","id":"zz"}');
  await admin.publish('load:events', 'x'.repeat(5000));
  await waitUntil('bad messages logged', () => (b.events.filter((e) => e.event === 'store-bad-record' && e.fields.channel === 'load:events').length === 2 ? true : undefined));
  t.equal(b.store.size, 2, 'bad messages change nothing');
});

t.test('prefixes keep fleets apart; a reload takes at most --max-challenges', peers, async (t) => {
  const one = await open(t, redis(), { prefix: 'fleet-1:' });
  const two = await open(t, redis(), { prefix: 'fleet-2:' });
  for (const n of [1, 2, 3]) await one.store.put(parseIdentifier(`n${n}.example.test`), digestOf(n), 60);
  t.equal(two.store.size, 0, 'another prefix sees nothing');
  const small = await open(t, redis(), { prefix: 'fleet-1:', maxChallenges: 2 });
  t.equal(small.store.size, 2);
  t.match(small.events.find((e) => e.event === 'store-synced'), { level: 'warn', fields: { dropped: 1 } });
  const full = await rejection(small.store.put(parseIdentifier('n4.example.test'), digestOf(4), 60));
  t.ok(hasCode(full, 'ERR_TOO_MANY_CHALLENGES'), 'a full node refuses new names');
  await one.store.put(parseIdentifier('n5.example.test'), digestOf(5), 60);
  await waitUntil('store-full logged', () => small.events.find((e) => e.event === 'store-full'));
  t.equal(small.store.get('n5.example.test'), undefined, 'a full node does not take names deployed elsewhere');
});

t.test('Redis unreachable at start: an error, or the memory fallback', peers, async (t) => {
  const port = await freePort();
  const target = parseRedisTarget(`redis://127.0.0.1:${port}/0`);
  const started = Date.now();
  const error = await rejection(RedisChallengeStore.open({ target, prefix: 'x:', timeoutMs: 1000, maxChallenges: 10, log: recorder().log }));
  t.ok(hasCode(error, 'ERR_STORE_UNREACHABLE'), String(error));
  t.match((error as Error).message, /ECONNREFUSED/);
  t.ok(Date.now() - started < 1500, 'fails within the timeout');

  const { log, events } = recorder();
  const store = await openSharedStore({ target, prefix: 'x:', fallback: 'memory', timeoutMs: 1000 }, { maxChallenges: 10, log });
  t.teardown(() => store.close());
  t.notOk(store instanceof RedisChallengeStore, 'serves from memory');
  t.match(events.filter((e) => e.level !== 'debug'), [{ level: 'error', event: 'store-fallback', fields: { fallback: 'memory', error: /ECONNREFUSED/ } }]);
  await store.put(parseIdentifier('local.example.test'), digestOf(1), 60);
  t.match(events.at(-1), { level: 'warn', event: 'store-fallback-deploy', fields: { sni: 'local.example.test' } });
});

t.test('Redis lost: held challenges stay, changes are refused; back empty: every store resyncs', peers, async (t) => {
  const dir = shortTempDir(t, 'ar-redis-');
  let own = await startRedis(dir);
  t.teardown(() => own.stop());
  const a = await open(t, own, { prefix: 'outage:', timeoutMs: 1000 });
  const b = await open(t, own, { prefix: 'outage:', timeoutMs: 1000 });
  await a.store.put(parseIdentifier('held.example.test'), digestOf(1), 60);
  await waitUntil('b holds it', () => b.store.get('held.example.test'));

  await own.kill();
  const refused = await waitUntil('deploys refused', async () => {
    const error = await rejection(b.store.put(parseIdentifier('new.example.test'), digestOf(2), 60)).catch(() => undefined);
    return hasCode(error, 'ERR_STORE_UNAVAILABLE') ? error : undefined;
  });
  t.match(refused.message, /unavailable/);
  t.ok(hasCode(await rejection(a.store.delete('held.example.test')), 'ERR_STORE_UNAVAILABLE'), 'cleans refused too');
  t.ok(a.store.get('held.example.test') && b.store.get('held.example.test'), 'both still serve what they held');
  await waitUntil('the outage is logged', () => a.events.find((e) => e.event === 'store-unavailable' && e.level === 'warn'));

  own = await startRedis(dir, own.port);
  for (const [name, s] of [['a', a], ['b', b]] as const) {
    await waitUntil(`${name} resynced`, () => s.events.find((e) => e.event === 'store-synced' && e.fields.reason === 'reconnect'), 10_000);
  }
  t.equal(a.store.get('held.example.test'), undefined, 'a Redis back empty empties every store');
  t.equal(b.store.size, 0);
  await b.store.put(parseIdentifier('again.example.test'), digestOf(3), 60);
  await waitUntil('a has the redeploy', () => a.store.get('again.example.test'), 2000, 1);
});

t.test('a Redis that stops answering: changes fail after the timeout instead of hanging', peers, async (t) => {
  const own = await startRedis(shortTempDir(t, 'ar-redis-'));
  t.teardown(() => own.stop());
  const a = await open(t, own, { prefix: 'hang:', timeoutMs: 300 });
  const b = await open(t, own, { prefix: 'hang:', timeoutMs: 300 });
  await a.store.put(parseIdentifier('before.example.test'), digestOf(1), 60);
  own.process.child.kill('SIGSTOP');
  t.teardown(() => void own.process.child.kill('SIGCONT'));
  const started = Date.now();
  const error = await rejection(a.store.put(parseIdentifier('during.example.test'), digestOf(2), 60));
  const waited = Date.now() - started;
  t.ok(hasCode(error, 'ERR_STORE_UNAVAILABLE'), String(error));
  t.ok(waited >= 250 && waited < 1500, `refused after the timeout (${waited} ms)`);
  t.ok(b.store.get('before.example.test'), 'still served meanwhile');
  own.process.child.kill('SIGCONT');
  // The timed-out write may still reach Redis: whatever it did, every store ends up agreeing with Redis.
  await b.store.put(parseIdentifier('after.example.test'), digestOf(3), 60);
  await waitUntil('a has the later deploy', () => a.store.get('after.example.test'), 2000, 1);
  t.equal(hex(a.store.get('during.example.test')), hex(b.store.get('during.example.test')), 'both agree on the timed-out one');
});

t.test('the ACL user of docs/cluster.md can deploy; others cannot', peers, async (t) => {
  const admin = redis().admin();
  t.equal(await admin.call('ACL', 'SETUSER', ...(await documentedAcl('s3cret'))), 'OK', 'the documented line is valid');
  const acl = await open(t, redis(), { prefix: 'alpn-responder:', userinfo: 'alpn:s3cret' });
  const other = await open(t, redis(), { prefix: 'alpn-responder:' });
  await acl.store.put(parseIdentifier('acl.example.test'), digestOf(1), 60);
  await waitUntil('an admin store sees it', () => other.store.get('acl.example.test'));
  t.equal(await acl.store.delete('acl.example.test'), true);

  const denied = async (userinfo: string, prefix = 'alpn-responder:'): Promise<unknown> =>
    rejection(RedisChallengeStore.open({ target: parseRedisTarget(redis().url(userinfo)), prefix, timeoutMs: 1000, maxChallenges: 10, log: recorder().log }));
  t.ok(hasCode(await denied('alpn:wrong'), 'ERR_STORE_DENIED'), 'a wrong password');
  t.ok(hasCode(await denied('alpn:s3cret', 'fleet-b:'), 'ERR_STORE_DENIED'), 'another prefix than the ACL grants');
  await admin.call('ACL', 'SETUSER', 'plain', 'on', '>pw');
  t.ok(hasCode(await denied('plain:pw'), 'ERR_STORE_DENIED'), 'a user without the grants');

  // Enough to follow the fleet, not to change it.
  await admin.call('ACL', 'SETUSER', 'reader', 'on', '>pw', '~alpn-responder:*', '&alpn-responder:*', '+@read', '+subscribe', '+select');
  const reader = await open(t, redis(), { prefix: 'alpn-responder:', userinfo: 'reader:pw' });
  const error = await rejection(reader.store.put(parseIdentifier('ro.example.test'), digestOf(1), 60));
  t.ok(hasCode(error, 'ERR_STORE_DENIED'), String(error));
  t.match((error as Error).message, /NOPERM/);
  t.notMatch((error as Error).message, /pw@/, 'no password in the message');
});
