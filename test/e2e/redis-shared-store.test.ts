/**
 * Three daemons (the built CLI) sharing one real redis-server through `--store`, connected as the ACL user
 * docs/cluster.md documents: deploys, cleans and expiries made on one node are served by every node, and a Redis
 * outage and restart are survived.
 */
import t, { type Test } from 'tap';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { caVerdict, digestOf, validateAsCa } from '../helpers/ca-check.js';
import { CLI_PATH, cleanEnv, freePort, requirePeers, run, startDaemon, waitUntil, type Daemon } from '../helpers/daemon.js';
import type { Endpoint } from '../helpers/nginx.js';
import { documentedAcl, REDIS_PEERS, startRedis, type RedisServer } from '../helpers/redis.js';
import { shortTempDir } from '../helpers/tmp.js';

const PASSWORD = 'cluster-test-pw';

/** Where the CA reaches `node`. */
const endpointOf = (node: Daemon): Endpoint => ({ host: '127.0.0.1', port: node.listeners[0]?.port ?? 0 });

/** True once `node` serves the challenge certificate of `name` for `digest`, checked as the CA checks it. */
async function serves(node: Daemon, name: string, digest: Uint8Array = digestOf(name)): Promise<boolean> {
  const check = await caVerdict(endpointOf(node), name, digest);
  return typeof check !== 'string' && check.ok;
}

const peers = requirePeers(t, [...REDIS_PEERS], true);
let redis: RedisServer | undefined;
let redisDir = '';
const nodes: Record<'a' | 'b' | 'c', Daemon | undefined> = { a: undefined, b: undefined, c: undefined };

async function grantAcl(server: RedisServer): Promise<void> {
  await server.admin().call('ACL', 'SETUSER', ...(await documentedAcl(PASSWORD)));
}

function node(name: 'a' | 'b' | 'c'): Daemon {
  const daemon = nodes[name];
  if (daemon === undefined) throw new Error(`node ${name} did not start`);
  return daemon;
}

t.before(async () => {
  if (peers.skip !== undefined) return;
  redisDir = shortTempDir(t, 'ar-redis-');
  redis = await startRedis(redisDir);
  await grantAcl(redis);
  const url = redis.url(`alpn:${PASSWORD}`);
  await Promise.all(
    (['a', 'b', 'c'] as const).map(async (name) => {
      nodes[name] = await startDaemon({
        listen: ['127.0.0.1:0'],
        dir: path.join(shortTempDir(t), name),
        args: ['--store', url, '--store-timeout', '1'],
      });
    }),
  );
});
t.teardown(async () => {
  await Promise.all(Object.values(nodes).map((d) => d?.stop()));
  await redis?.stop();
});

async function deploy(t: Test, via: Daemon, name: string, ttl?: number): Promise<void> {
  const reply = await via.request(`deploy ${name} ${digestOf(name).toString('hex')}${ttl === undefined ? '' : ` ${ttl}`}`);
  t.match(reply, [/^OK deployed /], `deploy ${name}`);
}

t.test('a deploy on one node is served by the others within 100 ms', peers, async (t) => {
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const name = `p${i}.cluster.example.test`;
    await deploy(t, node('a'), name);
    const acknowledged = performance.now();
    // B and C are polled side by side, each timed to its first CA-checked handshake.
    times.push(
      ...(await Promise.all(
        [node('b'), node('c')].map(async (other) => {
          await waitUntil(`${name} served by another node`, async () => ((await serves(other, name)) ? true : undefined), 2000, 1);
          return performance.now() - acknowledged;
        }),
      )),
    );
    t.ok(await serves(node('a'), name), `A serves ${name}`);
  }
  const sorted = [...times].sort((x, y) => x - y);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const max = sorted.at(-1) ?? 0;
  t.comment(`propagation, deploy OK on A until B (or C) serves it, CA-checked handshake included: median ${median.toFixed(1)} ms, max ${max.toFixed(1)} ms over ${times.length} node-deploys`);
  t.ok(median < 100, `median propagation ${median.toFixed(1)} ms is under 100 ms`);
  const lists = await Promise.all([node('a'), node('b'), node('c')].map((d) => d.request('list')));
  for (const list of lists) t.equal(list.at(-1), 'OK 10', 'every node lists the fleet\'s challenges');
});

t.test('a clean through C removes the challenge everywhere', peers, async (t) => {
  for (let i = 0; i < 10; i++) {
    t.match(await node('c').request(`clean p${i}.cluster.example.test`), [/^OK cleaned/]);
  }
  for (const other of [node('a'), node('b'), node('c')]) {
    await waitUntil('nothing listed', async () => ((await other.request('list')).at(-1) === 'OK 0' ? true : undefined), 2000, 1);
    t.same(await validateAsCa(endpointOf(other), 'p0.cluster.example.test'), { ok: false, error: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' }, 'refused');
  }
});

t.test('expiry is honoured on every node', peers, async (t) => {
  const name = 'short.cluster.example.test';
  await deploy(t, node('b'), name, 1);
  for (const other of [node('a'), node('c')]) await waitUntil('served', async () => ((await serves(other, name)) ? true : undefined), 2000, 1);
  const deployed = performance.now();
  for (const other of [node('a'), node('b'), node('c')]) {
    await waitUntil('expired', async () => ((await serves(other, name)) ? undefined : true), 3000);
    t.ok(other.logLines().some((l) => / event=expire sni=short\.cluster\.example\.test/.test(l)), 'the node logged the expiry');
  }
  t.comment(`a 1 s challenge was gone from all three nodes ${(performance.now() - deployed).toFixed(0)} ms after every node served it`);
  t.equal(await redis?.admin().exists(`alpn-responder:challenge:${name}`), 0, 'Redis expired the key');
});

t.test('Redis restarted: held challenges are served through the outage, changes refused, then every node resyncs', peers, async (t) => {
  const held = 'held.cluster.example.test';
  await deploy(t, node('a'), held);
  for (const other of [node('b'), node('c')]) await waitUntil('served', async () => ((await serves(other, held)) ? true : undefined), 2000, 1);
  const server = redis;
  if (server === undefined) throw new Error('no redis');
  const syncedBefore = (d: Daemon): number => d.logLines().filter((l) => / event=store-synced .*reason=reconnect/.test(l)).length;
  const before = { a: syncedBefore(node('a')), b: syncedBefore(node('b')), c: syncedBefore(node('c')) };

  await server.kill();
  const refused = await waitUntil('deploy refused', async () => {
    const reply = await node('b').request(`deploy other.cluster.example.test ${digestOf('other').toString('hex')}`);
    return reply[0]?.startsWith('ERR ') ? reply[0] : undefined;
  });
  t.match(refused, /^ERR store-unavailable Redis at redis:\/\/alpn:\*\*\*@127\.0\.0\.1:\d+\/0 is unavailable/);
  t.notMatch(refused, new RegExp(PASSWORD), 'the password is not shown');
  t.match(await node('c').request(`clean ${held}`), [/^ERR store-unavailable /], 'clean refused too');
  for (const each of [node('a'), node('b'), node('c')]) t.ok(await serves(each, held), 'still served during the outage');
  const cli = await node('a').cli(['deploy', 'cli.cluster.example.test', digestOf('cli').toString('hex')]);
  t.equal(cli.code, 1, 'the CLI (and so the hook) fails at once');
  t.match(cli.stderr, /ERR store-unavailable/);

  const restarted = performance.now();
  redis = await startRedis(redisDir, server.port);
  await grantAcl(redis);
  for (const name of ['a', 'b', 'c'] as const) {
    await waitUntil(`node ${name} resynced`, () => (syncedBefore(node(name)) > before[name] ? true : undefined), 15_000);
  }
  t.comment(`all three nodes resynced ${(performance.now() - restarted).toFixed(0)} ms after Redis came back (empty)`);
  for (const each of [node('a'), node('b'), node('c')]) {
    t.notOk(await serves(each, held), 'Redis came back empty: the challenge is dropped everywhere (docs/cluster.md)');
  }
  await deploy(t, node('c'), held);
  for (const each of [node('a'), node('b')]) await waitUntil('served again', async () => ((await serves(each, held)) ? true : undefined), 2000, 1);
});

t.test('start-up: unreachable, denied, fallback, and --store with --state', peers, async (t) => {
  const dir = shortTempDir(t);
  const deadPort = await freePort();
  const serve = (args: string[]) =>
    run(process.execPath, [CLI_PATH, 'serve', '--listen', '127.0.0.1:0', '--control', path.join(dir, 'x.sock'), ...args], {
      env: cleanEnv(),
      timeoutMs: 15_000,
    });
  const unreachable = await serve(['--store', `redis://127.0.0.1:${deadPort}/0`, '--store-timeout', '1']);
  t.equal(unreachable.code, 1);
  t.match(unreachable.stderr, /ERR_STORE_UNREACHABLE: cannot use Redis at redis:\/\/127\.0\.0\.1:\d+\/0: connect ECONNREFUSED/);

  const plainUrl = redis?.url('plain:pw') ?? '';
  await redis?.admin().call('ACL', 'SETUSER', 'plain', 'on', '>pw');
  const denied = await serve(['--store', plainUrl, '--store-fallback', 'memory']);
  t.equal(denied.code, 1, 'a user without the ACL stops start-up, even with the fallback');
  t.match(denied.stderr, /ERR_STORE_DENIED: .*NOPERM/);

  const both = await serve(['--store', 'redis://127.0.0.1:6379/0', '--state', path.join(dir, 'state.json')]);
  t.equal(both.code, 1);
  t.match(both.stderr, /ERR_BAD_STORE: --store and --state cannot be combined/);

  const fallback = await startDaemon({
    listen: ['127.0.0.1:0'],
    dir: path.join(dir, 'fallback'),
    env: { ALPN_RESPONDER_STORE: `redis://127.0.0.1:${deadPort}/0`, ALPN_RESPONDER_STORE_FALLBACK: 'memory', ALPN_RESPONDER_STORE_TIMEOUT: '1' },
  });
  t.teardown(() => fallback.stop());
  t.ok(fallback.logLines().some((l) => /level=error event=store-fallback .*fallback=memory/.test(l)), 'the fallback is logged as an error');
  await deploy(t, fallback, 'local.cluster.example.test');
  t.ok(await serves(fallback, 'local.cluster.example.test'), 'the fallback node serves its own deploys');
  t.ok(fallback.logLines().some((l) => /level=warn event=store-fallback-deploy sni=local\.cluster\.example\.test/.test(l)));
});

/** A throwaway CA and a `localhost` certificate it signed, for a TLS-only redis-server. */
async function makeTlsFiles(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const openssl = (args: string[]) => promisify(execFile)('openssl', args);
  const [ca, caKey, cert, key, csr, ext] = ['ca.pem', 'ca.key', 'redis.pem', 'redis.key', 'redis.csr', 'redis.ext'].map((f) => path.join(dir, f)) as [string, string, string, string, string, string];
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await openssl(['req', '-x509', ...ec, '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=alpn-responder test Redis CA']);
  await openssl(['req', ...ec, '-keyout', key, '-out', csr, '-subj', '/CN=localhost']);
  await writeFile(ext, 'subjectAltName=DNS:localhost\n');
  await openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { ca, cert, key };
}

t.test('rediss://: TLS to Redis, trusted through NODE_EXTRA_CA_CERTS', requirePeers(t, [...REDIS_PEERS, 'openssl'], true), async (t) => {
  const dir = shortTempDir(t);
  const files = await makeTlsFiles(dir);
  const port = await freePort();
  const tlsArgs = ['--port', '0', '--tls-port', String(port), '--tls-cert-file', files.cert, '--tls-key-file', files.key, '--tls-auth-clients', 'no'];
  const server = await startRedis(dir, port, tlsArgs);
  t.teardown(() => server.stop());
  const url = `rediss://localhost:${port}/0`;
  const [x, y] = await Promise.all(
    ['x', 'y'].map((name) => startDaemon({ listen: ['127.0.0.1:0'], dir: path.join(dir, name), args: ['--store', url], env: { NODE_EXTRA_CA_CERTS: files.ca } })),
  );
  t.teardown(() => Promise.all([x?.stop(), y?.stop()]));
  if (x === undefined || y === undefined) throw new Error('no daemons');
  await deploy(t, x, 'tls.cluster.example.test');
  await waitUntil('served by the other node', async () => ((await serves(y, 'tls.cluster.example.test')) ? true : undefined), 2000, 1);

  const untrusted = await run(process.execPath, [CLI_PATH, 'serve', '--listen', '127.0.0.1:0', '--control', path.join(dir, 'z.sock'), '--store', url], {
    env: cleanEnv(),
    timeoutMs: 15_000,
  });
  t.equal(untrusted.code, 1, 'without the CA the certificate is refused');
  t.match(untrusted.stderr, /ERR_STORE_UNREACHABLE: cannot use Redis at rediss:\/\/localhost:\d+\/0: .*certificate/);
});
