/**
 * `serve --workers 2` end to end: the built daemon forks two worker processes that accept on the TLS port
 * themselves, while the primary keeps the control socket, the store and the certificates. Every test makes real
 * handshakes (judged as the CA judges them) and reads the `worker=` field of the log to see which worker served.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { dehydratedDigestOf, digestOf, validateAsCa } from '../helpers/ca-check.js';
import { CLI_PATH, cleanEnv, logField, requirePeers, spawnManaged, startDaemon, waitUntil, type Daemon, type ManagedProcess } from '../helpers/daemon.js';
import { echoBackend, openPassthrough, PASS_HELLO } from '../helpers/echo-backend.js';
import { makeDehydratedPair, removePair, writePair } from '../helpers/dehydrated-alpn.js';
import { shortTempDir } from '../helpers/tmp.js';
import { events, outcomesByWorker, untilEveryWorker, workerPids, type EveryWorkerRun, type UntilEveryWorkerOptions } from '../helpers/workers.js';

// Spread into each test: tap's --grep marks the options object it is given, which must not be shared.
const skip = requirePeers(t, [], true);
const WORKER_IDS = ['1', '2'] as const;
const hexDigest = (name: string): string => digestOf(name).toString('hex');

/** `serve --workers 2 --listen 127.0.0.1:0`, stopped (the whole process group) after the test. */
async function startWorkers(t: Test, args: readonly string[] = [], dir = shortTempDir(t)): Promise<Daemon> {
  const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir, args: ['--workers', '2', ...args] });
  t.teardown(() => daemon.stop());
  return daemon;
}

const endpointOf = (daemon: Daemon) => ({ host: daemon.listeners[0]!.address, port: daemon.listeners[0]!.port });

/**
 * True while `pid` runs. A process that has exited but not been reaped (a zombie) counts as gone: a worker orphaned
 * by a SIGKILLed primary is reparented to PID 1, which in some containers never reaps it.
 */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw error;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Processes of process group `pgid` that still run (zombies excluded), from /proc. */
function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // After the command name: state, ppid, pgrp, ...
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') members.push(Number(entry));
    } catch {
      // Gone while we looked.
    }
  }
  return members;
}

/** Waits until none of `pids` runs any more. */
function allGone(what: string, pids: readonly number[], timeoutMs = 60_000): Promise<true> {
  return waitUntil(what, () => (pids.some(alive) ? undefined : true), timeoutMs);
}

/** Runs `task` `count` times, `parallel` at a time. */
async function inBatches<T>(count: number, parallel: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < count; start += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - start) }, (_, i) => task(start + i));
    results.push(...(await Promise.all(batch)));
  }
  return results;
}

/** Validates `name` as the CA does until every worker in `workers` has logged `outcome=served` for it. */
const validateUntilServedBy = (daemon: Daemon, name: string, workers: readonly string[], options: UntilEveryWorkerOptions = {}) =>
  untilEveryWorker({ to: endpointOf(daemon), lines: () => daemon.logLines() }, name, workers, options);

/** `status` fields as numbers (`served=3` → served: 3), strings where they are not numbers. */
async function status(daemon: Daemon): Promise<Record<string, string>> {
  const [line = ''] = await daemon.request('status');
  return Object.fromEntries([...line.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
}

/** Sends `lines` on one control connection at once and calls `onReply` with each reply line as it arrives. */
function burst(socketPath: string, lines: readonly string[], onReply: (reply: string) => void): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    const replies: string[] = [];
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${replies.length} of ${lines.length} replies within 30 s`));
    }, 30_000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(lines.map((line) => `${line}\n`).join('')));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const reply = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        replies.push(reply);
        onReply(reply);
        if (replies.length === lines.length) {
          clearTimeout(timer);
          socket.end();
          resolve(replies);
        }
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

t.test('deploy → OK → every handshake from either worker presents the challenge; status and list sum over workers', { ...skip }, async (t) => {
  const daemon = await startWorkers(t);
  const primary = daemon.process.child.pid!;
  const pids = workerPids(daemon);
  t.same([...pids.keys()].sort(), WORKER_IDS, 'worker-ready from workers 1 and 2');
  t.equal(new Set([primary, ...pids.values()]).size, 3, 'three distinct processes');
  t.match(events(daemon, 'ready')[0], / workers=2 /, 'event=ready workers=2');
  const port = endpointOf(daemon).port;
  for (const id of WORKER_IDS) {
    t.ok(events(daemon, 'listening').some((l) => logField(l, 'worker') === id && logField(l, 'port') === String(port)), `worker ${id} listens on port ${port}`);
  }
  const readyAt = daemon.logLines().findIndex((l) => logField(l, 'event') === 'ready');
  const lastWorkerReady = daemon.logLines().findLastIndex((l) => logField(l, 'event') === 'worker-ready');
  t.ok(lastWorkerReady >= 0 && lastWorkerReady < readyAt, 'ready only after every worker-ready');

  const name = 'both.workers.example.test';
  const deployed = (await daemon.request(`deploy ${name} ${hexDigest(name)}`))[0] ?? '';
  const expires = /^OK deployed \S+ expires (\S+)$/.exec(deployed)?.[1];
  t.ok(expires, `deployed: ${deployed}`);
  // Straight after the OK: 40 validations, then more until both workers have served.
  const { total, failures, byWorker } = await validateUntilServedBy(daemon, name, WORKER_IDS, { min: 40, max: 400 });
  t.same(failures, [], `all ${total} validations passed the CA's checks`);
  t.comment(`${total} handshakes; served by worker: ${JSON.stringify(Object.fromEntries(byWorker))}`);
  t.ok(WORKER_IDS.every((id) => (byWorker.get(id) ?? 0) > 0), 'both workers served');
  t.equal([...byWorker.values()].reduce((a, b) => a + b, 0), total, 'one outcome=served line per handshake');

  // Counters live in the workers: status and list ask them and add up.
  const summed = await waitUntil('status to count every handshake', async () => {
    const s = await status(daemon);
    return Number(s.served) >= total ? s : undefined;
  });
  t.match(summed, { workers: '2', challenges: '1', served: String(total), passed: '0', rejected: '0' }, 'status: workers=2, served summed over both');
  t.same(await daemon.request('list'), [`${name} ${hexDigest(name)} ${expires} ${total}`, 'OK 1'], 'list: one row, served summed');
});

t.test('200 deploys in a burst on one control connection: each name is served right after its OK', { ...skip }, async (t) => {
  // 240 validations from one address in a few seconds: this is about deploys, not --handshake-rate.
  const daemon = await startWorkers(t, ['--handshake-burst', '1000']);
  const to = endpointOf(daemon);
  const names = Array.from({ length: 200 }, (_, i) => `b${i}.burst.example.test`);
  const immediate: Promise<string | undefined>[] = [];
  const started = performance.now();
  const replies = await burst(
    daemon.controlPath,
    names.map((name) => `deploy ${name} ${hexDigest(name)}`),
    (reply) => {
      const name = /^OK deployed (\S+) /.exec(reply)?.[1];
      // Every tenth name: two validations the moment its OK arrives (either may land on either worker).
      if (name === undefined || Number(/^b(\d+)\./.exec(name)?.[1]) % 10 !== 0) return;
      for (let i = 0; i < 2; i++) {
        immediate.push(validateAsCa(to, name).then((v) => (v.ok && v.check.ok ? undefined : `${name}: ${v.ok ? JSON.stringify(v.check) : v.error}`)));
      }
    },
  );
  const deployMs = performance.now() - started;
  t.same(
    replies.filter((reply) => !reply.startsWith('OK deployed ')),
    [],
    'every deploy answered OK',
  );
  t.same(new Set(replies.map((reply) => reply.split(' ')[2])), new Set(names), 'one OK per name');
  const sampled = await Promise.all(immediate);
  t.equal(sampled.length, 40, '20 names validated twice each right after their OK');
  t.same(sampled.filter((v) => v !== undefined), [], 'each passed the CA\'s checks');

  const all = await inBatches(names.length, 8, async (i) => {
    const v = await validateAsCa(to, names[i]!);
    return v.ok && v.check.ok ? undefined : `${names[i]}: ${v.ok ? JSON.stringify(v.check) : v.error}`;
  });
  t.same(all.filter((v) => v !== undefined), [], 'then all 200 names validated');
  const served = events(daemon, 'connection').filter((l) => logField(l, 'outcome') === 'served');
  t.same(new Set(served.map((l) => logField(l, 'worker'))), new Set(WORKER_IDS), 'both workers served some of them');
  t.equal((await daemon.request('list')).at(-1), 'OK 200');
  t.comment(`200 deploys acknowledged by both workers in ${deployMs.toFixed(0)} ms`);
});

t.test('clean: soon no worker serves the name', { ...skip }, async (t) => {
  const daemon = await startWorkers(t);
  const name = 'cleaned.workers.example.test';
  t.match((await daemon.request(`deploy ${name} ${hexDigest(name)}`))[0], /^OK deployed /);
  const before = await validateUntilServedBy(daemon, name, WORKER_IDS);
  t.same(before.failures, [], 'served by both workers before the clean');

  t.same(await daemon.request(`clean ${name}`), [`OK cleaned ${name}`]);
  // `clean` is broadcast without confirmation: poll until ten validations in a row are refused.
  const to = endpointOf(daemon);
  await waitUntil('ten refusals in a row', async () => {
    const results = await inBatches(10, 2, () => validateAsCa(to, name));
    return results.every((r) => !r.ok && r.error === 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME') ? true : undefined;
  });
  // From now on every validation is refused, by whichever worker accepts it: at least 20, and until both workers
  // have refused one since.
  const settledAt = daemon.logLines().length;
  const { total: attempts, failures: served } = await untilEveryWorker({ to, lines: () => daemon.logLines() }, name, WORKER_IDS, { outcome: 'rejected', min: 20, since: settledAt });
  t.same(served, [], `all ${attempts} later validations refused with unrecognized_name`);
  t.equal(outcomesByWorker(daemon, name, 'served', settledAt).size, 0, 'no worker logged outcome=served for it since');
  t.equal((await daemon.request('list')).at(-1), 'OK 0');
  t.match(await status(daemon), { workers: '2', challenges: '0' });
});

t.test('two deploys of one name, the newest cleaned by digest: the primary serves the previous one again on every worker', { ...skip }, async (t) => {
  // Issue 12, item 3: the primary decides what a name serves and tells the workers.
  const daemon = await startWorkers(t);
  const name = 'stacked.workers.example.test';
  const first = digestOf('stacked-run-a');
  const second = digestOf('stacked-run-b');
  t.match((await daemon.request(`deploy ${name} ${first.toString('hex')}`))[0], /^OK deployed /);
  t.match((await daemon.request(`deploy ${name} ${second.toString('hex')}`))[0], /^OK deployed /);
  const newest = await validateUntilServedBy(daemon, name, WORKER_IDS, { digest: second });
  t.same(newest.failures, [], 'both workers serve the newest deploy');

  t.same(await daemon.request(`clean ${name} ${second.toString('hex')}`), [`OK cleaned ${name}`]);
  const to = endpointOf(daemon);
  // The previous deploy's certificate is built and sent to the workers after the OK: poll until it is served.
  await waitUntil('ten validations in a row of the previous deploy', async () => {
    const results = await inBatches(10, 2, () => validateAsCa(to, name, { digest: first }));
    return results.every((r) => r.ok && r.check.ok) ? true : undefined;
  });
  const settledAt = daemon.logLines().length;
  const previous = await validateUntilServedBy(daemon, name, WORKER_IDS, { digest: first, min: 10, since: settledAt });
  t.same(previous.failures, [], `all ${previous.total} later handshakes, from both workers, present the previous deploy`);
  t.match(await daemon.request('list'), [new RegExp(`^${name.replaceAll('.', '\\.')} ${first.toString('hex')} `), 'OK 1']);
});

t.test('a SIGKILLed worker is replaced, and the replacement serves the challenges deployed before', { ...skip }, async (t) => {
  const daemon = await startWorkers(t);
  const name = 'survivor.workers.example.test';
  t.match((await daemon.request(`deploy ${name} ${hexDigest(name)}`))[0], /^OK deployed /);
  const pids = workerPids(daemon);
  const victim = pids.get('1')!;
  const killedAt = daemon.logLines().length;
  process.kill(victim, 'SIGKILL');

  const exit = await waitUntil('worker-exit', () => events(daemon, 'worker-exit', killedAt)[0]);
  t.match(exit, new RegExp(` event=worker-exit worker=1 pid=${victim} .*signal=SIGKILL respawn_ms=\\d+`), 'the exit is logged with the signal and back-off');
  const ready = await waitUntil('a replacement worker-ready', () => events(daemon, 'worker-ready', killedAt)[0]);
  const replacement = logField(ready, 'worker')!;
  const replacementPid = Number(logField(ready, 'pid'));
  t.equal(replacement, '3', 'the replacement is worker 3');
  t.not(replacementPid, victim, 'in a new process');
  t.notOk(alive(victim), 'the killed worker is gone');
  t.ok(alive(pids.get('2')!), 'worker 2 was not touched');

  // The replacement got every challenge before it served: it passes the CA's checks for the old deploy.
  const after = await validateUntilServedBy(daemon, name, ['2', replacement], { since: killedAt });
  t.same(after.failures, [], `all ${after.total} validations after the kill passed; served by ${JSON.stringify(Object.fromEntries(after.byWorker))}`);
  t.notOk(after.byWorker.has('1'), 'nothing served by the dead worker');

  // And a deploy now waits for (and reaches) the replacement too.
  const second = 'after-replacement.workers.example.test';
  t.match((await daemon.request(`deploy ${second} ${hexDigest(second)}`))[0], /^OK deployed /);
  const fresh = await validateUntilServedBy(daemon, second, ['2', replacement]);
  t.same(fresh.failures, [], 'a deploy after the replacement is served by both workers');
  t.equal(events(daemon, 'worker-exit').length, 1, 'no other worker exited');
  t.match(await status(daemon), { workers: '2', challenges: '2' });
});

t.test('SIGTERM: the primary stops its workers and exits 0', { ...skip }, async (t) => {
  const daemon = await startWorkers(t);
  const primary = daemon.process.child.pid!;
  const workers = [...workerPids(daemon).values()];
  t.equal(workers.length, 2);
  t.same(groupMembers(primary).sort(), [primary, ...workers].sort(), 'the process group is the primary and its two workers');
  process.kill(primary, 'SIGTERM');
  t.equal(await daemon.process.exited, 0, 'exit code 0');
  // The primary waited for them: they are gone (and reaped) by the time it exits.
  t.same(workers.filter(alive), [], 'no worker left when the primary has exited');
  await allGone('every process of the group to be gone', [primary, ...workers]);
  t.same(groupMembers(primary), [], 'nothing left in the process group');
  t.ok(events(daemon, 'stopped').length === 1, 'stopped logged');
  t.same(events(daemon, 'worker-exit'), [], 'a shutdown is no worker failure');
});

t.test('SIGKILL of the primary: each worker notices and exits on its own', { ...skip }, async (t) => {
  const daemon = await startWorkers(t);
  const primary = daemon.process.child.pid!;
  const workers = workerPids(daemon);
  process.kill(primary, 'SIGKILL');
  t.equal(await daemon.process.exited, 'SIGKILL');
  // Before the teardown's group kill could do it for them.
  await allGone('both orphaned workers to exit', [...workers.values()]);
  t.pass('both workers exited without being signalled');
  // Their output still arrives through the pipes they inherited.
  const orphaned = await waitUntil(
    'worker-orphaned from both',
    () => {
      const logged = new Set(events(daemon, 'worker-orphaned').map((l) => logField(l, 'worker')));
      return WORKER_IDS.every((id) => logged.has(id)) ? true : undefined;
    },
    1_500,
  ).catch(() => false);
  t.ok(orphaned, 'each logged event=worker-orphaned');
  t.same(groupMembers(primary), [], 'nothing left in the process group');
  // (Probing the port for ECONNREFUSED would race with other tests that get the freed port from the kernel.)
});

t.test('a worker that cannot listen fails the start: non-zero exit, ERR_LISTEN, no process left', { ...skip }, async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const dir = shortTempDir(t);
  const control = path.join(dir, 'c.sock');
  const proc: ManagedProcess = spawnManaged('alpn-responder', process.execPath, [CLI_PATH, 'serve', '--workers', '2', '--listen', `127.0.0.1:${port}`, '--control', control], {
    env: cleanEnv(),
    cwd: dir,
  });
  t.teardown(() => proc.stop());
  const code = await waitUntil('the daemon to exit', () => proc.exitState(), 60_000).catch((error: Error) => {
    throw new Error(`${error.message}\n${proc.output()}`);
  });
  t.not(code, 0, `non-zero exit (${code})`);
  t.match(proc.output(), /ERR_LISTEN/, 'ERR_LISTEN reported');
  t.match(proc.output(), /EADDRINUSE/, 'naming EADDRINUSE');
  t.notOk(/ event=ready( |$)/m.test(proc.output()), 'never ready');
  await waitUntil('no process left in the group', () => (groupMembers(proc.child.pid!).length === 0 ? true : undefined), 60_000);
  t.pass('no worker process left');
  t.notOk(existsSync(control), 'the control socket was removed again');
  t.comment(proc.output().trim());
});

/** One connection that is not an ACME validation: true when the backend's echo of the ClientHello came back whole. */
async function passthrough(port: number): Promise<boolean> {
  const { socket, received } = await openPassthrough(port);
  try {
    return received().equals(PASS_HELLO);
  } finally {
    socket.destroy();
  }
}

/** Passthrough connections until every worker in `workers` has logged one passed to `backend`. */
function passUntilEveryWorker(daemon: Daemon, backend: string, workers: readonly string[], since: number): Promise<EveryWorkerRun> {
  const to = endpointOf(daemon);
  return untilEveryWorker({ to, lines: () => daemon.logLines() }, undefined, workers, {
    outcome: 'passed',
    since,
    where: (line) => logField(line, 'backend') === backend,
    attempt: async () => ((await passthrough(to.port)) ? undefined : 'the echo came back altered'),
  });
}

t.test('passthrough through the workers, and SIGHUP sends reloaded backends to every worker', { ...skip }, async (t) => {
  const first = await echoBackend(t);
  const second = await echoBackend(t);
  const dir = shortTempDir(t);
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ backend: [`127.0.0.1:${first.port}`] }));
  const daemon = await startWorkers(t, ['--config', config], dir);

  const before = await passUntilEveryWorker(daemon, `127.0.0.1:${first.port}`, WORKER_IDS, 0);
  t.same(before.failures, [], `all ${before.total} passthrough connections reached the backend and came back byte for byte`);
  t.equal(first.accepted(), before.total, 'the backend accepted each of them');
  const counted = await waitUntil('status to count the passthroughs', async () => {
    const s = await status(daemon);
    return Number(s.passed) >= before.total ? s : undefined;
  });
  t.match(counted, { passed: String(before.total), served: '0', rejected: '0' }, 'status: passed summed over both workers');

  // The primary re-reads the config and sends the new backends to the workers; they apply them as they get them.
  writeFileSync(config, JSON.stringify({ backend: [`127.0.0.1:${second.port}`] }));
  const reloadAt = daemon.logLines().length;
  daemon.process.child.kill('SIGHUP');
  await waitUntil('reloaded', () => events(daemon, 'reloaded', reloadAt)[0]);
  const after = await passUntilEveryWorker(daemon, `127.0.0.1:${second.port}`, WORKER_IDS, reloadAt).catch((e: Error) => {
    throw new Error(`${e.message}\n${daemon.logLines().slice(reloadAt - 3).join('\n')}`);
  });
  t.same(after.failures, [], 'after the reload every connection still came back whole');
  t.ok(second.accepted() > 0, `both workers now pass to the reloaded backend (${second.accepted()} of ${after.total} connections)`);
  t.same(events(daemon, 'worker-exit'), [], 'no worker restarted for it');
});

t.test('--watch-dir: the primary loads the pair, every worker serves it; list shows it once', { ...skip }, async (t) => {
  const dir = shortTempDir(t);
  const watched = path.join(dir, 'alpn-certs');
  mkdirSync(watched);
  const name = 'watched.workers.example.test';
  const pair = await makeDehydratedPair(name, dehydratedDigestOf(name));
  const daemon = await startWorkers(t, ['--watch-dir', watched], path.join(dir, 'daemon'));
  await writePair(watched, pair);

  const loaded = await waitUntil('watch-load', () => events(daemon, 'watch-load').find((l) => logField(l, 'name') === name));
  t.equal(logField(loaded, 'worker'), undefined, 'loaded by the primary, not by a worker');
  const { total, failures, byWorker } = await validateUntilServedBy(daemon, name, WORKER_IDS, { min: 10 });
  t.same(failures, [], `all ${total} validations of the directory's pair passed; served by ${JSON.stringify(Object.fromEntries(byWorker))}`);

  const rows = await waitUntil('list to count every handshake', async () => {
    const list = await daemon.request('list');
    return list.some((l) => l.endsWith(` ${total}`)) ? list : undefined;
  });
  t.equal(rows.length, 2, 'one row and OK');
  t.match(rows[0], new RegExp(`^${name.replaceAll('.', '\\.')} ${digestOf(name).toString('hex')} \\S+ ${total}$`), 'the pair listed once, served summed over both workers');
  t.equal(rows[1], 'OK 1');

  const removedAt = daemon.logLines().length;
  await removePair(watched, name);
  await waitUntil('watch-drop', () => events(daemon, 'watch-drop', removedAt).find((l) => logField(l, 'name') === name));
  t.equal(events(daemon, 'watch-load').length, 1, 'one watch-load in all');
  const refused = await inBatches(8, 4, () => validateAsCa(endpointOf(daemon), name));
  t.same(refused.map((r) => (r.ok ? 'served' : r.error)), Array(8).fill('ERR_SSL_TLSV1_UNRECOGNIZED_NAME'), 'no longer served once deleted');
  t.equal((await daemon.request('list')).at(-1), 'OK 0');
});

t.test('--state: challenges deployed through the workers survive a SIGKILL of the whole group', { ...skip }, async (t) => {
  const dir = shortTempDir(t);
  const stateFile = path.join(dir, 'state.json');
  const name = 'persisted.workers.example.test';
  const first = await startWorkers(t, ['--state', stateFile], dir);
  t.match((await first.request(`deploy ${name} ${hexDigest(name)}`))[0], /^OK deployed /);
  const pgid = first.process.child.pid!;
  process.kill(-pgid, 'SIGKILL');
  t.equal(await first.process.exited, 'SIGKILL');
  await waitUntil('the whole group to be gone', () => (groupMembers(pgid).length === 0 ? true : undefined), 60_000);

  const second = await startWorkers(t, ['--state', stateFile], dir);
  t.match(events(second, 'state-loaded')[0], / restored=1 /, 'restored from the state file');
  const { total, failures, byWorker } = await validateUntilServedBy(second, name, WORKER_IDS);
  t.same(failures, [], `served again by both workers (${total} validations, ${JSON.stringify(Object.fromEntries(byWorker))})`);
  t.match((await second.request('list'))[0], new RegExp(`^${name.replaceAll('.', '\\.')} ${hexDigest(name)} `));
  t.equal(await second.stop(), 0, 'SIGTERM: clean exit');
  t.match(JSON.parse(readFileSync(stateFile, 'utf8')), { challenges: [{ identifier: name }] }, 'still on disk after the clean stop');
});
