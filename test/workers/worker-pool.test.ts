/**
 * The primary's side of `--workers`, in this process, over real worker processes (the built dist/worker.js).
 * The command-line behaviour (signals, logs, restarts) is in workers.test.ts.
 */
import cluster from 'node:cluster';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { createChallengeCertificate } from '../../src/challenge/certificate.js';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import type { Logger } from '../../src/log.js';
import type { Challenge } from '../../src/challenge/challenge.js';
import type { WorkerSettings } from '../../src/workers/messages.js';
import { WorkerPool } from '../../src/workers/worker-pool.js';
import { caVerdict, digestOf } from '../helpers/ca-check.js';
import { REPO_ROOT, requirePeers, waitUntil } from '../helpers/daemon.js';

const EXEC = path.join(REPO_ROOT, 'dist', 'worker.js');

function settings(listen: WorkerSettings['listen']): WorkerSettings {
  return {
    listen,
    connection: {
      backends: [],
      backendProxyProtocol: undefined,
      acceptProxyProtocol: false,
      maxHelloBytes: 16384,
      helloTimeoutMs: 2000,
      handshakeTimeoutMs: 2000,
      backendConnectTimeoutMs: 2000,
      idleTimeoutMs: 10_000,
      maxConnections: 100,
      maxConnectionsPerSource: 100,
      handshakeRate: 20,
      handshakeBurst: 200,
    },
    runAs: undefined,
    logLevel: 'warn',
  };
}

function recorder(): { log: Logger; events: string[] } {
  const events: string[] = [];
  return { events, log: { log: (_level, event, fields) => void events.push(`${event} ${JSON.stringify(fields ?? {})}`) } };
}

async function challengeFor(name: string): Promise<{ challenge: Challenge; certificate: { certPem: string; keyPem: string } }> {
  const identifier = parseIdentifier(name);
  const challenge = { identifier, digest: digestOf(name), expiresAt: new Date(Date.now() + 600_000) };
  return { challenge, certificate: await createChallengeCertificate(identifier, challenge.digest) };
}

function workerPids(): number[] {
  return Object.values(cluster.workers ?? {}).flatMap((worker) => (worker?.process.pid === undefined ? [] : [worker.process.pid]));
}

const accepted = (verdict: Awaited<ReturnType<typeof caVerdict>>): boolean => typeof verdict !== 'string' && verdict.ok;

t.test('a put is confirmed by every worker; a worker that dies is replaced and serves at once', async (t) => {
  if (requirePeers(t, [], true).skip) return;
  const { log, events } = recorder();
  const pool = new WorkerPool({ count: 2, exec: EXEC, settings: settings([{ host: '127.0.0.1', port: 0 }]), log });
  t.teardown(() => pool.close(0));
  // Put before start: it is part of what the workers get when they start.
  const early = await challengeFor('early.example.test');
  await pool.put(early.challenge, early.certificate);
  await pool.start();
  t.equal(pool.size, 2);
  const [address] = pool.addresses;
  const to = { host: '127.0.0.1', port: address!.port };
  t.ok(accepted(await caVerdict(to, 'early.example.test')), 'a challenge put before start is served');

  const { challenge, certificate } = await challengeFor('a.example.test');
  await pool.put(challenge, certificate);
  for (let i = 0; i < 20; i++) t.ok(accepted(await caVerdict(to, 'a.example.test')), `handshake ${i} right after the put`);
  // A worker counts a handshake when its server side completes, which can be just after the client's side did.
  const activity = await waitUntil('21 handshakes counted', async () => {
    const now = await pool.activity();
    return now.served >= 21 ? now : undefined;
  });
  t.equal(activity.served, 21, 'every handshake counted, summed over the workers');
  t.equal(activity.servedBySni.get('a.example.test'), 20);

  const [victim] = workerPids();
  process.kill(victim!, 'SIGKILL');
  await waitUntil('worker replaced', () => (events.some((e) => e.startsWith('worker-exit ')) && pool.size === 2 && workerPids().every((pid) => pid !== victim) ? true : undefined), 15_000);
  await waitUntil('replacement ready', () => (events.filter((e) => e.startsWith('worker-ready ')).length === 3 ? true : undefined), 15_000);
  for (let i = 0; i < 20; i++) t.ok(accepted(await caVerdict(to, 'a.example.test')), `handshake ${i} after the replacement`);

  pool.delete('a.example.test');
  await waitUntil('cleaned everywhere', async () => {
    for (let i = 0; i < 6; i++) if (accepted(await caVerdict(to, 'a.example.test'))) return undefined;
    return true;
  });
  t.equal(await caVerdict(to, 'a.example.test'), 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME', 'a cleaned name is refused');
  pool.configure({ ...settings([]).connection, maxConnections: 50 });
  await pool.close(1000);
  await pool.close(1000);
  t.equal(pool.size, 0, 'closed, idempotently');
  t.same(workerPids(), [], 'no worker left');
});

t.test('changes made while a replacement starts reach it: nothing is lost, nothing waits for the timeout', async (t) => {
  if (requirePeers(t, [], true).skip) return;
  const { log, events } = recorder();
  const pool = new WorkerPool({ count: 2, exec: EXEC, settings: settings([{ host: '127.0.0.1', port: 0 }]), log, replyTimeoutMs: 5000 });
  t.teardown(() => pool.close(0));
  await pool.start();
  const to = { host: '127.0.0.1', port: pool.addresses[0]!.port };
  const names = Array.from({ length: 8 }, (_, i) => `r${i}.example.test`);
  const prepared = await Promise.all(names.map(challengeFor));
  for (const { challenge, certificate } of prepared.slice(0, 4)) await pool.put(challenge, certificate);
  const [victim] = workerPids();
  process.kill(victim!, 'SIGKILL');
  await waitUntil('worker gone', () => (events.some((e) => e.startsWith('worker-exit ')) ? true : undefined));
  // While the replacement is forked, loads and starts: clean two names, deploy four more, each confirmed in time.
  const changes: Promise<void>[] = [];
  for (const name of names.slice(0, 2)) pool.delete(name);
  for (const { challenge, certificate } of prepared.slice(4)) {
    changes.push(pool.put(challenge, certificate));
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
  await Promise.all(changes);
  await waitUntil('replacement ready', () => (events.filter((e) => e.startsWith('worker-ready ')).length === 3 ? true : undefined), 15_000);
  t.notOk(events.some((e) => e.startsWith('worker-unresponsive ')), 'no worker was found unresponsive');
  // Enough handshakes that both workers answer some (the kernel spreads them).
  for (let round = 0; round < 6; round++) {
    for (const name of names.slice(0, 2)) t.equal(await caVerdict(to, name), 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME', `${name} cleaned everywhere`);
    for (const name of names.slice(2)) t.ok(accepted(await caVerdict(to, name)), `${name} served everywhere`);
  }
});

t.test('a worker that stops answering is replaced, and the put waiting on it fails', async (t) => {
  if (requirePeers(t, [], true).skip) return;
  const { log, events } = recorder();
  const pool = new WorkerPool({ count: 2, exec: EXEC, settings: settings([{ host: '127.0.0.1', port: 0 }]), log, replyTimeoutMs: 1000 });
  t.teardown(() => pool.close(0));
  await pool.start();
  const [stuck] = workerPids();
  process.kill(stuck!, 'SIGSTOP');
  const { challenge, certificate } = await challengeFor('b.example.test');
  await t.rejects(pool.put(challenge, certificate), { code: 'ERR_WORKER', message: /did not confirm/ });
  t.ok(events.some((e) => e.startsWith('worker-unresponsive ') && e.includes(`"pid":${stuck}`)), 'logged');
  await waitUntil('replacement ready', () => (events.filter((e) => e.startsWith('worker-ready ')).length === 3 ? true : undefined), 15_000);
  const to = { host: '127.0.0.1', port: pool.addresses[0]!.port };
  for (let i = 0; i < 10; i++) t.ok(accepted(await caVerdict(to, 'b.example.test')), `the replacement serves what it missed (${i})`);
});

t.test('every worker lost and none can start again: deploys are refused and the owner is told', async (t) => {
  if (requirePeers(t, [], true).skip) return;
  const { log, events } = recorder();
  let lost: Error | undefined;
  // A replacement cannot start once its settings name a backend it cannot parse (as one cannot listen again once
  // the shared socket went with the last worker and root was given up); the running workers are killed first.
  const pool = new WorkerPool({ count: 2, exec: EXEC, settings: settings([{ host: '127.0.0.1', port: 0 }]), log, onLost: (error) => (lost = error) });
  t.teardown(() => pool.close(0));
  await pool.start();
  const running = workerPids();
  for (const pid of running) process.kill(pid, 'SIGSTOP');
  pool.configure({ ...settings([]).connection, backends: ['not a backend'] });
  for (const pid of running) process.kill(pid, 'SIGKILL');
  await waitUntil('both workers gone', () => (pool.serving === 0 && events.filter((e) => e.startsWith('worker-exit ')).length === 2 ? true : undefined));
  const { challenge, certificate } = await challengeFor('lost.example.test');
  await t.rejects(pool.put(challenge, certificate), { code: 'ERR_WORKER', message: /no worker process serves/ });
  await waitUntil('told it is lost', () => lost, 15_000);
  t.equal((lost as { code?: string } | undefined)?.code, 'ERR_BAD_BACKEND');
  t.ok(events.some((e) => e.startsWith('worker-failed ')), 'the failed replacement is logged');
});

t.test('a worker that cannot listen fails the start with its reason', async (t) => {
  if (requirePeers(t, [], true).skip) return;
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as net.AddressInfo).port;
  const pool = new WorkerPool({ count: 2, exec: EXEC, settings: settings([{ host: '127.0.0.1', port }]), log: recorder().log });
  await t.rejects(pool.start(), { code: 'ERR_LISTEN', message: /EADDRINUSE/ });
  t.equal(pool.size, 0);
  t.same(workerPids(), [], 'no worker left behind');
});
