/**
 * The primary's side of `--workers`, in this process: its confirmations, replacements and time limits against
 * workers simulated in this process (test/helpers/fake-workers.ts, milliseconds each), then over real worker
 * processes (the built dist/worker.js). The command-line behaviour (signals, logs, restarts) is in workers.test.ts.
 */
import cluster from 'node:cluster';
import net from 'node:net';
import path from 'node:path';
import { mock } from 'node:test';
import t from 'tap';
import { createChallengeCertificate } from '../../src/challenge/certificate.js';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import type { Logger } from '../../src/log.js';
import type { Challenge } from '../../src/challenge/challenge.js';
import type { WorkerSettings } from '../../src/workers/messages.js';
import { WorkerPool } from '../../src/workers/worker-pool.js';
import { caVerdict, digestOf } from '../helpers/ca-check.js';
import { REPO_ROOT, requirePeers, waitUntil } from '../helpers/daemon.js';
import { activityOf, FakeChannel, type FakeBehaviour } from '../helpers/fake-workers.js';

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

/** A pool of `count` simulated workers; time limits long unless the test is about one. */
function fakePool(count: number, behave?: (n: number) => FakeBehaviour, extra: Partial<ConstructorParameters<typeof WorkerPool>[0]> = {}) {
  const { log, events } = recorder();
  const channel = new FakeChannel(behave);
  const pool = new WorkerPool({ count, exec: 'unused', channel, settings: settings([{ host: '127.0.0.1', port: 0 }]), log, timing: { respawnFirstMs: 1, respawnMaxMs: 8 }, ...extra });
  const named = (event: string): string[] => events.filter((e) => e.startsWith(`${event} `));
  return { pool, channel, events, named };
}

/**
 * Resolves once `check` holds, checking after each turn of the event loop (the simulated workers answer per turn).
 * These take milliseconds; the bound only turns a hang into a message.
 */
async function until(what: string, check: () => boolean): Promise<void> {
  const hangGuard = performance.now() + 60_000;
  while (!check()) {
    if (performance.now() > hangGuard) throw new Error(`hung: still waiting for ${what} after 60 s`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * The pool's timers on a fake clock for the rest of test `t` (node:test's mock timers; setImmediate stays real, so
 * the simulated workers still answer): a time limit fires when the test advances the clock past it, never because
 * the machine was slow.
 */
function fakeClock(t: { teardown(fn: () => unknown): void }): (ms: number) => void {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.teardown(() => mock.timers.reset());
  return (ms) => mock.timers.tick(ms);
}

/** Lets the event loop turn `n` times (the simulated workers answer a turn after they are asked). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Whether a promise has settled by the end of this turn of the event loop. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const winner = await Promise.race([promise.then(() => undefined, () => undefined), new Promise((resolve) => setImmediate(() => resolve(marker)))]);
  return winner !== marker;
}

t.test('simulated: start sends each worker the settings and what was put before; a put waits for every ack', async (t) => {
  const held: (() => void)[] = [];
  // Worker 2 holds its acks until the test lets them go.
  const { pool, channel } = fakePool(2, (n) => (n === 2 ? { put: (worker, put) => void held.push(() => worker.say({ t: 'ack', id: put.id })) } : {}));
  const early = await challengeFor('early.example.test');
  await pool.put(early.challenge, early.certificate);
  t.equal(channel.workers.length, 0, 'nothing forked before start');
  await pool.start();
  t.equal(pool.size, 2);
  t.equal(pool.serving, 2);
  t.same(pool.addresses, [{ host: '127.0.0.1', port: 4430 }], 'the addresses the first worker reported');
  for (const worker of channel.workers) {
    const [init] = worker.got('init');
    t.same(init?.challenges.map((c) => c.identifier), ['early.example.test'], `worker ${worker.id} got the early put in its init`);
    t.equal(init?.settings.connection.maxConnections, 100);
  }
  const { challenge, certificate } = await challengeFor('a.example.test');
  const put = pool.put(challenge, certificate);
  await until('worker 2 got the put', () => held.length === 1);
  await until('worker 1 acked', () => channel.workers[0]!.got('put').length === 1);
  t.notOk(await settled(put), 'not confirmed while one worker has not acked');
  held.shift()!();
  await put;
  t.pass('confirmed once both acked');

  pool.delete('a.example.test');
  pool.configure({ ...settings([]).connection, maxConnections: 50 });
  for (const worker of channel.workers) {
    t.same(worker.received.slice(1).map((m) => m.t), ['put', 'delete', 'configure'], `worker ${worker.id} got every change in order`);
  }
  await pool.close(0);
  t.equal(pool.size, 0);
  t.ok(channel.workers.every((worker) => worker.got('close').length === 1 && !worker.killed), 'each told to close, none killed');
});

t.test('simulated: workers hold connections until the pool opens; one started after that serves at once', async (t) => {
  const { pool, channel } = fakePool(2);
  t.teardown(() => pool.close(0));
  await pool.start();
  for (const worker of channel.workers) t.equal(worker.got('init')[0]?.open, false, `worker ${worker.id} starts held`);
  t.same(channel.workers.map((worker) => worker.got('open').length), [0, 0], 'not opened before the daemon says so');
  pool.open();
  t.same(channel.workers.map((worker) => worker.got('open').length), [1, 1], 'each told to open');
  channel.workers[0]!.exit(1, null);
  await until('a replacement got its init', () => channel.workers.length === 3 && channel.workers[2]!.got('init').length === 1);
  t.equal(channel.workers[2]!.got('init')[0]?.open, true, 'the replacement serves at once');
});

t.test('simulated: a worker\'s error in its ack fails the put with its message', async (t) => {
  const { pool } = fakePool(2, (n) => (n === 1 ? { put: (_, put) => ({ t: 'ack', id: put.id, error: 'disk on fire' }) } : {}));
  t.teardown(() => pool.close(0));
  await pool.start();
  const { challenge, certificate } = await challengeFor('a.example.test');
  await t.rejects(pool.put(challenge, certificate), { code: 'ERR_WORKER', message: 'worker 1: disk on fire' });
});

t.test('simulated: a worker that does not confirm in time is killed, the put fails, a replacement gets everything', async (t) => {
  // Worker 2 never acks; the others do. Only this time limit is short.
  const { challenge, certificate } = await challengeFor('b.example.test');
  const tick = fakeClock(t);
  const { pool, channel, named } = fakePool(2, (n) => (n === 2 ? { put: () => undefined } : {}), { replyTimeoutMs: 5_000 });
  t.teardown(() => pool.close(0));
  await pool.start();
  const put = pool.put(challenge, certificate);
  void put.catch(() => undefined);
  await until('worker 1 acked, worker 2 got the put', () => channel.workers.every((worker) => worker.got('put').length === 1));
  await turns(2); // worker 1's ack arrives a turn after the put
  tick(4_999);
  t.notOk(await settled(put), 'still waiting 1 ms before the limit');
  t.notOk(channel.workers[1]!.killed);
  tick(1);
  await t.rejects(put, { code: 'ERR_WORKER', message: '1 worker(s) did not confirm within 5 s and were replaced' });
  t.ok(channel.workers[1]!.killed, 'the silent worker was killed');
  t.notOk(channel.workers[0]!.killed, 'the one that confirmed was not');
  t.match(named('worker-unresponsive'), [/"worker":2/]);
  await until('worker 2 exited', () => channel.workers[1]!.exited && named('worker-exit').length === 1);
  tick(1);
  await until('replacement serving', () => channel.workers.length === 3 && pool.serving === 2);
  t.same(channel.workers[2]!.got('init')[0]?.challenges.map((c) => c.identifier), ['b.example.test'], 'the replacement got the challenge in its init');
  t.match(named('worker-exit'), [/"worker":2.*"signal":"SIGKILL"/]);
});

t.test('simulated: a put waiting on a worker that exits is confirmed by the others; the exit is replaced', async (t) => {
  const held: (() => void)[] = [];
  const { pool, channel, named } = fakePool(2, (n) => (n === 1 ? { put: (worker) => void held.push(() => worker.exit(1, null)) } : {}));
  t.teardown(() => pool.close(0));
  await pool.start();
  const { challenge, certificate } = await challengeFor('c.example.test');
  const put = pool.put(challenge, certificate);
  await until('worker 1 got the put', () => held.length === 1);
  t.notOk(await settled(put), 'waiting for worker 1');
  held.shift()!();
  await put;
  t.pass('the put resolved once the worker it waited on was gone');
  t.match(named('worker-exit'), [/"worker":1.*"code":1/]);
  await until('replaced', () => channel.workers.length === 3 && pool.serving === 2);
  t.same(channel.workers[2]!.got('init')[0]?.challenges.map((c) => c.identifier), ['c.example.test']);
});

t.test('simulated: replacements back off, doubling up to the limit, and the back-off resets once one serves', async (t) => {
  // Forks 3 to 6 exit right after their hello (they never serve); fork 7 serves.
  const { pool, channel, named } = fakePool(1, (n) => (n >= 3 && n <= 6 ? { init: (worker) => (worker.exit(1, null), undefined) } : {}));
  t.teardown(() => pool.close(0));
  await pool.start();
  channel.workers[0]!.exit(null, 'SIGKILL');
  await until('worker 2 serving', () => channel.workers.length === 2 && pool.serving === 1);
  channel.workers[1]!.exit(null, 'SIGKILL');
  await until('worker 7 serving', () => channel.workers.length === 7 && pool.serving === 1);
  const backoff = named('worker-exit').map((e) => Number(/"respawn_ms":(\d+)/.exec(e)?.[1]));
  // Worker 1 exits at the first back-off; 2 served and reset it; 3..6 fail in a row: 1, 2, 4, 8 (the limit), 8.
  t.same(backoff, [1, 1, 2, 4, 8, 8]);
  t.equal(named('worker-failed').length, 4, 'each replacement that never served is logged as failed');
});

t.test('simulated: start fails with the reason a worker reports, and ends the others', async (t) => {
  const { pool, channel } = fakePool(3, (n) => (n === 2 ? { init: () => ({ t: 'failed', code: 'ERR_LISTEN', message: 'listen EADDRINUSE 127.0.0.1:443' }) } : {}));
  await t.rejects(pool.start(), { code: 'ERR_LISTEN', message: /EADDRINUSE/ });
  t.equal(pool.size, 0, 'no worker left');
  t.ok(channel.workers.every((worker) => worker.exited));
});

t.test('simulated: a worker that never says hello fails the start after the start time limit and is killed', async (t) => {
  const tick = fakeClock(t);
  const { pool, channel } = fakePool(2, (n) => (n === 2 ? { forked: () => undefined } : {}), { timing: { startTimeoutMs: 20_000 } });
  const started = pool.start();
  void started.catch(() => undefined);
  await until('worker 1 serving', () => pool.serving === 1);
  tick(19_999);
  t.notOk(await settled(started), 'still starting 1 ms before the limit');
  tick(1);
  await t.rejects(started, { code: 'ERR_WORKER', message: 'worker 2 did not start within 20 s' });
  t.ok(channel.workers[1]!.killed, 'killed');
  t.equal(pool.size, 0);
});

t.test('simulated: with no worker serving, a put is refused; a replacement that cannot start tells the owner', async (t) => {
  let lost: Error | undefined;
  const { pool, channel } = fakePool(1, (n) => (n >= 2 ? { init: () => ({ t: 'failed', code: 'ERR_WATCH_DIR', message: 'gone' }) } : {}), {
    onLost: (error) => (lost = error),
    // Long enough that the put below comes before the replacement is forked.
    timing: { respawnFirstMs: 10_000 },
  });
  t.teardown(() => pool.close(0));
  await pool.start();
  channel.workers[0]!.exit(null, 'SIGKILL');
  await until('worker gone', () => pool.serving === 0);
  const { challenge, certificate } = await challengeFor('lost.example.test');
  await t.rejects(pool.put(challenge, certificate), { code: 'ERR_WORKER', message: /no worker process serves/ });
  await pool.close(0);
  t.equal(lost, undefined, 'not lost while closing');

  let lost2: Error | undefined;
  const second = fakePool(1, (n) => (n >= 2 ? { init: () => ({ t: 'failed', code: 'ERR_WATCH_DIR', message: 'gone' }) } : {}), { onLost: (error) => (lost2 = error) });
  t.teardown(() => second.pool.close(0));
  await second.pool.start();
  second.channel.workers[0]!.exit(null, 'SIGKILL');
  await until('told it is lost', () => lost2 !== undefined);
  t.equal((lost2 as { code?: string } | undefined)?.code, 'ERR_WATCH_DIR');
});

t.test('simulated: activity sums the answers; a silent worker is left out after the time limit, one that exits at once', async (t) => {
  const tick = fakeClock(t);
  const { pool, channel } = fakePool(3, (n) => (n === 3 ? { activity: () => undefined } : {}), { timing: { activityTimeoutMs: 2_000 } });
  t.teardown(() => pool.close(0));
  await pool.start();
  const asked = pool.activity();
  await until('worker 3 asked', () => channel.workers[2]!.got('activity').length === 1);
  await turns(2); // the answers of workers 1 and 2 arrive a turn after the question
  tick(1_999);
  t.notOk(await settled(asked), 'waiting for the silent worker until the limit');
  tick(1);
  const sum = await asked;
  t.equal(sum.served, 1 + 2, 'workers 1 and 2 counted, the silent one not');
  t.equal(sum.servedBySni.get('a.example.test'), 3);
  t.equal(sum.passed, 2);

  const exiting = fakePool(2, (n) => (n === 2 ? { activity: (worker) => (worker.exit(0, null), undefined) } : { activity: (_, request) => ({ t: 'activity', id: request.id, activity: activityOf(7) }) }));
  t.teardown(() => exiting.pool.close(0));
  await exiting.pool.start();
  t.equal((await exiting.pool.activity()).served, 7, 'answered without waiting once the other worker was gone');
});

t.test('simulated: close kills the workers still running after the shutdown time plus the grace', async (t) => {
  const tick = fakeClock(t);
  const { pool, channel } = fakePool(2, (n) => (n === 2 ? { exitOnClose: false } : {}), { timing: { killGraceMs: 2_000 } });
  await pool.start();
  const closing = pool.close(1_000);
  await until('worker 1 closed', () => channel.workers[0]!.exited);
  tick(2_999);
  t.notOk(await settled(closing), 'the worker that did not close is waited for until the shutdown time plus the grace');
  t.notOk(channel.workers[1]!.killed);
  tick(1);
  await closing;
  t.notOk(channel.workers[0]!.killed, 'the worker that closed was not killed');
  t.ok(channel.workers[1]!.killed, 'the one still running was');
  t.equal(pool.size, 0);
  await pool.close(1_000);
  t.pass('closing again returns at once');
});

t.test('a put is confirmed by every worker; a worker that dies is replaced and serves at once', async (t) => {
  if (requirePeers(t, [], true).skip) return;
  const { log, events } = recorder();
  const pool = new WorkerPool({ count: 2, exec: EXEC, settings: settings([{ host: '127.0.0.1', port: 0 }]), log });
  t.teardown(() => pool.close(0));
  // Put before start: it is part of what the workers get when they start.
  const early = await challengeFor('early.example.test');
  await pool.put(early.challenge, early.certificate);
  await pool.start();
  pool.open();
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
  await waitUntil('worker replaced', () => (events.some((e) => e.startsWith('worker-exit ')) && pool.size === 2 && workerPids().every((pid) => pid !== victim) ? true : undefined), 60_000);
  await waitUntil('replacement ready', () => (events.filter((e) => e.startsWith('worker-ready ')).length === 3 ? true : undefined), 60_000);
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
  pool.open();
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
  await waitUntil('replacement ready', () => (events.filter((e) => e.startsWith('worker-ready ')).length === 3 ? true : undefined), 60_000);
  t.notOk(events.some((e) => e.startsWith('worker-unresponsive ')), 'no worker was found unresponsive');
  // Enough handshakes that both workers answer some (the kernel spreads them).
  for (let round = 0; round < 6; round++) {
    for (const name of names.slice(0, 2)) t.equal(await caVerdict(to, name), 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME', `${name} cleaned everywhere`);
    for (const name of names.slice(2)) t.ok(accepted(await caVerdict(to, name)), `${name} served everywhere`);
  }
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
  pool.open();
  const running = workerPids();
  for (const pid of running) process.kill(pid, 'SIGSTOP');
  pool.configure({ ...settings([]).connection, backends: ['not a backend'] });
  for (const pid of running) process.kill(pid, 'SIGKILL');
  await waitUntil('both workers gone', () => (pool.serving === 0 && events.filter((e) => e.startsWith('worker-exit ')).length === 2 ? true : undefined));
  const { challenge, certificate } = await challengeFor('lost.example.test');
  await t.rejects(pool.put(challenge, certificate), { code: 'ERR_WORKER', message: /no worker process serves/ });
  await waitUntil('told it is lost', () => lost, 60_000);
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
