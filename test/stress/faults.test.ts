/**
 * Faults around the daemon rather than attacks on it: SIGKILL in the middle of a burst of deploys, a state
 * directory that stops being writable, the control socket's directory removed, and the wall clock jumping.
 * The daemon runs from dist/ as a child process, except for the clock test, which needs the store in-process.
 */
import t from 'tap';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { MemoryChallengeStore } from '../../src/store/memory-store.js';
import { caVerdict, digestOf } from '../helpers/ca-check.js';
import { requirePeers, startDaemon, waitUntil, type Daemon } from '../helpers/daemon.js';
import { shortTempDir } from '../helpers/tmp.js';

const deployLine = (name: string, ttl = '') => `deploy ${name} ${digestOf(name).toString('hex')}${ttl}`;

/** What the CA would get for `name`: true when the certificate passes its checks, else the problem or TLS error. */
async function served(daemon: Daemon, name: string): Promise<true | string> {
  const { address, port } = daemon.listeners[0]!;
  const check = await caVerdict({ host: address, port }, name);
  return typeof check === 'string' ? check : check.ok || check.problem;
}

/** The identifiers `list` shows. */
async function listed(daemon: Daemon): Promise<Set<string>> {
  const lines = await daemon.request('list');
  return new Set(lines.slice(0, -1).map((line) => line.split(' ')[0]!));
}

t.test('SIGKILL in the middle of a burst of deploys loses nothing acknowledged', requirePeers(t, [], true), async (t) => {
  const dir = shortTempDir(t);
  const stateFile = path.join(dir, 'state.json');
  const serve = (args: readonly string[] = []) => startDaemon({ listen: ['127.0.0.1:0'], dir, args: ['--state', stateFile, ...args] });
  // 100 commands/s spreads the answers over ~2 s, so the kill after the 100th OK lands with deploys still queued
  // and being written, whatever the default rate.
  const first = await serve(['--control-rate', '100']);
  t.teardown(() => first.stop());
  const names = Array.from({ length: 300 }, (_, i) => `n${i}.burst.example.test`);
  const acknowledged: string[] = [];
  // One connection, all 300 lines at once.
  await new Promise<void>((resolve) => {
    const socket = net.connect(first.controlPath, () => socket.write(names.map((name) => `${deployLine(name)}\n`).join('')));
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const ok = /^OK deployed (\S+) /.exec(line);
        if (ok) acknowledged.push(ok[1]!);
      }
      if (acknowledged.length > 100 && first.process.exitState() === undefined) process.kill(-first.process.child.pid!, 'SIGKILL');
    });
    socket.on('error', () => undefined); // ECONNRESET when the daemon dies.
    socket.on('close', () => resolve());
  });
  t.equal(await first.process.exited, 'SIGKILL', 'killed mid-burst');
  t.ok(acknowledged.length > 100 && acknowledged.length < 300, `${acknowledged.length} of 300 deploys acknowledged before the kill`);

  const second = await serve();
  t.teardown(() => second.stop());
  const restored = await listed(second);
  t.same(acknowledged.filter((name) => !restored.has(name)), [], 'every acknowledged deploy is restored');
  t.comment(`acknowledged ${acknowledged.length}, restored ${restored.size} (deploys written but not yet acknowledged may be restored too)`);
  t.equal(await served(second, acknowledged.at(-1)!), true, 'the last acknowledged one is served');
});

t.test('a state directory that stops being writable', requirePeers(t, [], true), async (t) => {
  const dir = shortTempDir(t);
  const stateDir = path.join(dir, 'state');
  mkdirSync(stateDir);
  const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir, args: ['--state', path.join(stateDir, 'state.json')] });
  t.teardown(() => daemon.stop());
  t.match(await daemon.request(deployLine('before.example.test')), [/^OK deployed/]);

  // As root, file modes do not stop writes; a directory replaced by a plain file does (ENOTDIR).
  renameSync(stateDir, path.join(dir, 'away'));
  writeFileSync(stateDir, 'a file where the directory was');
  t.match(await daemon.request(deployLine('during.example.test')), [/^ERR state-write-failed /]);
  t.equal(daemon.process.exitState(), undefined, 'the daemon stays up');
  t.equal(await served(daemon, 'before.example.test'), true, 'the earlier challenge is still served');
  t.same([...(await listed(daemon))], ['before.example.test'], 'the refused deploy was rolled back');

  rmSync(stateDir);
  renameSync(path.join(dir, 'away'), stateDir);
  t.match(await daemon.request(deployLine('after.example.test')), [/^OK deployed/], 'restored: deploys work again');
  t.equal(await served(daemon, 'after.example.test'), true);
});

t.test('the control socket directory removed under the running daemon', requirePeers(t, [], true), async (t) => {
  const root = shortTempDir(t);
  const runDir = path.join(root, 'run');
  // The state lives outside the removed directory, so the restart shows the challenge kept as well as control back.
  const serve = () => startDaemon({ listen: ['127.0.0.1:0'], dir: runDir, args: ['--state', path.join(root, 'state.json')] });
  const first = await serve();
  t.teardown(() => first.stop());
  t.match(await first.request(deployLine('kept.example.test')), [/^OK deployed/]);

  rmSync(runDir, { recursive: true, force: true });
  t.equal(await served(first, 'kept.example.test'), true, 'TLS is still served');
  await t.rejects(first.request('status'), { code: 'ENOENT' }, 'control is unreachable: its socket file is gone');
  // SIGHUP reloads config and the watch directory only; it does not rebind the control socket.
  process.kill(first.process.child.pid!, 'SIGHUP');
  await waitUntil('the SIGHUP to be handled', () => (first.logLines().some((line) => / event=signal signal=SIGHUP/.test(line)) ? true : undefined));
  await t.rejects(first.request('status'), { code: 'ENOENT' }, 'still unreachable after SIGHUP');
  t.equal(first.process.exitState(), undefined, 'the daemon has not crashed');
  t.equal(await first.stop(), 0, 'it stops cleanly although its socket file is gone');

  const second = await serve();
  t.teardown(() => second.stop());
  t.match((await second.request('status')).at(-1), /^OK/, 'a restart recreates the directory and the socket');
  t.equal(await served(second, 'kept.example.test'), true);
});

t.test('expiry ignores wall-clock jumps', async (t) => {
  const store = new MemoryChallengeStore({ maxChallenges: 10 });
  t.teardown(() => store.close());
  const realNow = Date.now;
  const shift = (ms: number): void => {
    Date.now = () => realNow() + ms;
  };
  t.teardown(() => {
    Date.now = realNow;
  });
  const id = parseIdentifier('clock.example.test');
  const hour = 3600_000;

  shift(hour);
  const deployedAt = performance.now();
  const challenge = await store.put(id, digestOf('clock.example.test'), 2);
  Date.now = realNow;
  // expiresAt is what `list` reports: it follows the wall clock of the deploy, an hour ahead here.
  t.ok(Math.abs(challenge.expiresAt.getTime() - (Date.now() + hour + 2000)) < 1000, 'the reported expiry took the shifted clock');
  t.ok(store.get(id.sni), 'served once the clock is back');

  shift(hour);
  t.ok(store.get(id.sni), 'still served while the clock is an hour ahead');
  Date.now = realNow;

  await waitUntil('the challenge to expire', () => (store.get(id.sni) === undefined ? true : undefined), 5000, 10);
  const lived = performance.now() - deployedAt;
  t.ok(lived >= 1990 && lived < 3000, `expired ${lived.toFixed(0)} ms after the deploy, by the monotonic clock`);
});
