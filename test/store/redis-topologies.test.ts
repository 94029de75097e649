/**
 * The store through ioredis's Sentinel and Cluster support, against real redis-server processes: the URL forms
 * docs/cluster.md documents, a Sentinel failover, and a three-master Cluster.
 */
import t, { type Test } from 'tap';
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import type { Logger } from '../../src/log.js';
import { RedisChallengeStore } from '../../src/store/redis-store.js';
import { parseRedisTarget } from '../../src/store/redis-target.js';
import { requirePeers, run, waitUntil } from '../helpers/daemon.js';
import { REDIS_PEERS, startRedis, startSentinel, type RedisServer } from '../helpers/redis.js';
import { shortTempDir } from '../helpers/tmp.js';

const digestOf = (n: number): Uint8Array => new Uint8Array(32).fill(n);

async function open(t: Test, url: string, lines: string[] = []) {
  const log: Logger = { log: (level, event, fields) => lines.push(`${level} ${event} ${JSON.stringify(fields)}`) };
  const store = await RedisChallengeStore.open({ target: parseRedisTarget(url), prefix: 'topo:', timeoutMs: 2000, maxChallenges: 1000, log });
  t.teardown(() => store.close());
  return store;
}

async function started(t: Test, server: Promise<RedisServer>): Promise<RedisServer> {
  const running = await server;
  t.teardown(() => running.stop());
  return running;
}

async function subdir(t: Test, name: string): Promise<string> {
  const dir = path.join(shortTempDir(t, 'ar-topo-'), name);
  await mkdir(dir);
  return dir;
}

t.test('Sentinel: found through the Sentinels, and followed through a failover', requirePeers(t, [...REDIS_PEERS]), async (t) => {
  const master = await started(t, startRedis(await subdir(t, 'master')));
  const replica = await started(t, startRedis(await subdir(t, 'replica'), undefined, ['--replicaof', '127.0.0.1', String(master.port)]));
  await waitUntil('replica in sync', async () => (/master_link_status:up/.test(await replica.admin().info('replication')) ? true : undefined));
  const sentinel = await started(t, startSentinel(await subdir(t, 'sentinel'), master.port));
  await waitUntil('sentinel knows the replica', async () => {
    const replicas = (await sentinel.admin().call('SENTINEL', 'REPLICAS', 'mymaster')) as unknown[];
    return replicas.length === 1 ? true : undefined;
  });

  const url = `redis+sentinel://127.0.0.1:${sentinel.port}/mymaster/0`;
  const linesA: string[] = [];
  const a = await open(t, url, linesA);
  const b = await open(t, url);
  await a.put(parseIdentifier('before.example.test'), digestOf(1), 60);
  await waitUntil('b has it', () => b.get('before.example.test'));
  // Replication is asynchronous: make sure the replica has the write before the master dies.
  t.equal(await master.admin().call('WAIT', '1', '2000'), 1, 'the replica acknowledged the write');

  const failedAt = Date.now();
  await master.kill();
  await waitUntil('a resynced with the new master', () => (linesA.some((l) => /store-synced .*"reason":"(reconnect|retry)"/.test(l)) ? true : undefined), 30_000, 50);
  t.comment(`failover followed ${Date.now() - failedAt} ms after the master was killed`);
  t.ok(a.get('before.example.test') && b.get('before.example.test'), 'the replicated challenge survived the failover');
  await waitUntil(
    'b deploys through the new master',
    async () => (await b.put(parseIdentifier('after.example.test'), digestOf(2), 60).then(() => true).catch(() => undefined)),
    30_000,
    50,
  );
  await waitUntil('a has it', () => a.get('after.example.test'), 2000, 1);
  t.equal(await replica.admin().exists('topo:challenge:after.example.test'), 1, 'written to the promoted replica');
});

t.test('Cluster: reloads from every master, changes reach every node', requirePeers(t, [...REDIS_PEERS, 'redis-cli']), async (t) => {
  const nodes = await Promise.all(
    ['n1', 'n2', 'n3'].map(async (name) =>
      started(t, startRedis(await subdir(t, name), undefined, ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'])),
    ),
  );
  const created = await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeoutMs: 30_000 });
  t.equal(created.code, 0, 'cluster created', { output: created.stdout + created.stderr });
  for (const node of nodes) {
    await waitUntil('cluster ok', async () => (/cluster_state:ok/.test(String(await node.admin().call('CLUSTER', 'INFO'))) ? true : undefined), 20_000, 50);
  }

  const url = `redis+cluster://127.0.0.1:${nodes[0]?.port},127.0.0.1:${nodes[1]?.port}`;
  const a = await open(t, url);
  const b = await open(t, url);
  const names = Array.from({ length: 30 }, (_, i) => `c${i}.example.test`);
  for (const [i, name] of names.entries()) await a.put(parseIdentifier(name), digestOf(i), 60);
  await waitUntil('b has every one', () => (names.every((n) => b.get(n)) ? true : undefined), 5000, 5);
  const holding = await Promise.all(nodes.map(async (n) => (await n.admin().call('DBSIZE')) as number));
  t.ok(holding.filter((count) => count > 0).length >= 2, `the keys are spread over the masters (${holding.join(', ')})`);

  const lines: string[] = [];
  const later = await open(t, url, lines);
  t.equal(later.size, names.length, 'a reload scans every master');
  t.equal(await b.delete(names[0] ?? ''), true);
  await waitUntil('a dropped it', () => (a.get(names[0] ?? '') === undefined ? true : undefined), 2000, 1);
  await waitUntil('the later store dropped it', () => (later.get(names[0] ?? '') === undefined ? true : undefined), 2000, 1);
});
