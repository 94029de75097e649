/**
 * The daemon's lifecycle as an operator drives it with signals: graceful shutdown that lets a connection in flight
 * finish, a shutdown timeout that drops one that never ends, and SIGHUP re-reading the config file.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { requirePeers, startDaemon, waitUntil, type Daemon } from './helpers/daemon.js';
import { echoBackend, openPassthrough } from './helpers/echo-backend.js';
import { shortTempDir } from './helpers/tmp.js';

const skip = requirePeers(t, [], true);

const line = (daemon: Daemon, event: string) => daemon.logLines().find((l) => l.includes(` event=${event}`));

t.test('SIGTERM lets a connection in flight finish, refuses new ones, exits 0', { skip: skip.skip }, async (t) => {
  const backend = await echoBackend(t);
  const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir: shortTempDir(t), args: ['--backend', `127.0.0.1:${backend.port}`] });
  t.teardown(() => daemon.stop());
  const port = daemon.listeners[0]!.port;
  const { socket, received } = await openPassthrough(port);
  daemon.process.child.kill('SIGTERM');
  await waitUntil('stopping logged', () => line(daemon, 'stopping'), 5000);
  t.match(line(daemon, 'stopping'), /open=1/);
  const refused = await new Promise<string>((resolve) => {
    const probe = net.connect(port, '127.0.0.1');
    probe.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    probe.on('connect', () => (probe.destroy(), resolve('connected')));
  });
  t.equal(refused, 'ECONNREFUSED', 'no new connections once stopping');
  const before = received().length;
  socket.write('still here');
  await waitUntil('in-flight echo', () => (received().length >= before + 10 ? true : undefined), 5000);
  t.equal(received().subarray(before).toString(), 'still here', 'the open connection still works');
  socket.end();
  t.equal(await daemon.process.exited, 0);
  t.ok(line(daemon, 'stopped'));
  t.notOk(line(daemon, 'shutdown-dropped'));
});

t.test('--shutdown-timeout drops a connection that never ends', { skip: skip.skip }, async (t) => {
  const backend = await echoBackend(t);
  const daemon = await startDaemon({
    listen: ['127.0.0.1:0'],
    dir: shortTempDir(t),
    args: ['--backend', `127.0.0.1:${backend.port}`, '--shutdown-timeout', '0.5'],
  });
  t.teardown(() => daemon.stop());
  const { socket } = await openPassthrough(daemon.listeners[0]!.port);
  const closed = new Promise((resolve) => socket.on('close', resolve));
  daemon.process.child.kill('SIGTERM');
  t.equal(await daemon.process.exited, 0);
  await closed;
  t.match(line(daemon, 'shutdown-dropped'), /open=1/);
});

t.test('SIGHUP re-reads the config file; a bad one is refused and the old settings kept', { skip: skip.skip }, async (t) => {
  const first = await echoBackend(t);
  const second = await echoBackend(t);
  const dir = shortTempDir(t);
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ backend: [`127.0.0.1:${first.port}`], ttl: '600' }));
  const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir, args: ['--config', config] });
  t.teardown(() => daemon.stop());
  const port = daemon.listeners[0]!.port;
  (await openPassthrough(port)).socket.destroy();
  t.equal(first.accepted(), 1, 'the config file chose the first backend');

  writeFileSync(config, JSON.stringify({ backend: [`127.0.0.1:${second.port}`], ttl: '60', 'max-challenges': 5 }));
  daemon.process.child.kill('SIGHUP');
  await waitUntil('reloaded', () => line(daemon, 'reloaded'), 5000);
  t.match(line(daemon, 'reload-needs-restart'), /options=max-challenges/);
  (await openPassthrough(port)).socket.destroy();
  t.equal(second.accepted(), 1, 'new connections go to the reloaded backend');
  const deployed = await daemon.cli(['deploy', 'a.example.test', 'ab:'.repeat(31) + 'ab']);
  const expires = Date.parse(/expires (\S+)/.exec(deployed.stdout)?.[1] ?? '');
  t.ok(expires - Date.now() <= 60_000, 'the reloaded default TTL applies to the next deploy');

  writeFileSync(config, '{"backend": 5}');
  daemon.process.child.kill('SIGHUP');
  await waitUntil('reload-failed', () => line(daemon, 'reload-failed'), 5000);
  t.match(line(daemon, 'reload-failed'), /level=error event=reload-failed code=ERR_BAD_OPTION error="--backend 5 \(from \S+config\.json\): HOST:PORT/);
  (await openPassthrough(port)).socket.destroy();
  t.equal(second.accepted(), 2, 'a bad config leaves the running settings alone');
});
