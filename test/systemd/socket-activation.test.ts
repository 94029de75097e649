/**
 * Socket activation end to end: the built daemon under systemd-socket-activate, which opens the sockets, passes them
 * as fds 3 and 4 with LISTEN_* set, and execs the daemon on the first connection.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { caVerdict, validateAsCa } from '../helpers/ca-check.js';
import { CLI_PATH, cleanEnv, controlRequest, freePort, logField, requirePeers, spawnManaged, waitUntil, type ManagedProcess } from '../helpers/daemon.js';
import { shortTempDir } from '../helpers/tmp.js';
import { untilEveryWorker } from '../helpers/workers.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const NAME = 'activated.example.test';
const digest = createHash('sha256').update(`token.${'A'.repeat(43)}`).digest();
// An address no interface has: a daemon that tried to bind it instead of using fd 3 would fail to start.
const UNBINDABLE = '192.0.2.1:443';

interface Activated {
  readonly proc: ManagedProcess;
  readonly control: string;
  readonly port: number;
  readonly dir: string;
  lines(): string[];
}

/** Starts systemd-socket-activate around `serve`, with the sockets it should pass; the daemon itself starts later. */
async function activate(t: Test, fdnames: readonly string[], serveArgs: readonly string[] = []): Promise<Activated> {
  const dir = shortTempDir(t);
  const control = path.join(dir, 'control.sock');
  const port = await freePort();
  // One process unless the test is about workers (the default is one worker per CPU).
  const workers = serveArgs.includes('--workers') ? [] : ['--workers', '1'];
  const proc = spawnManaged(
    'systemd-socket-activate',
    'systemd-socket-activate',
    ['-l', `127.0.0.1:${port}`, '-l', control, ...fdnames, '--', process.execPath, CLI_PATH, 'serve', '--listen', UNBINDABLE, '--control', path.join(dir, 'own.sock'), ...workers, ...serveArgs],
    { env: cleanEnv() },
  );
  t.teardown(() => proc.stop());
  await waitUntil('systemd-socket-activate to create the control socket', () => (existsSync(control) ? true : undefined));
  return { proc, control, port, dir, lines: () => proc.output().split('\n') };
}

t.test('named descriptors: deploy over the passed control socket, validate over the passed listener', requirePeers(t, ['systemd-socket-activate'], true), async (t) => {
  const { proc, control, port, dir, lines } = await activate(t, ['--fdname=tls:control']);
  // The daemon is not running yet: this first connection makes systemd-socket-activate exec it, and waits in the
  // passed socket's queue until the daemon serves it.
  const status = await controlRequest(control, 'status', 15_000);
  t.match(status[0], new RegExp(`^OK version=\\S+ uptime=\\d+s listeners=127\\.0\\.0\\.1:${port} `), 'status lists the passed listener only');

  t.match(lines().join('\n'), / event=listen-fds .*listen_fdnames=tls:control .*unset=LISTEN_PID,LISTEN_FDS,LISTEN_FDNAMES/, 'LISTEN_* read, then unset');
  t.ok(lines().some((l) => l.includes(` event=listening address=127.0.0.1 port=${port} fd=3`)), 'TLS listener adopted from fd 3');
  t.ok(lines().some((l) => / event=control-listening fd=4$/.test(l)), 'control socket adopted from fd 4');
  t.notOk(existsSync(path.join(dir, 'own.sock')), '--control path not bound');

  t.match((await controlRequest(control, `deploy ${NAME} ${digest.toString('hex')}`))[0], /^OK deployed /);
  const to = { host: '127.0.0.1', port };
  const served = await validateAsCa(to, NAME, { digest });
  t.equal(served.ok && served.alpn, 'acme-tls/1');
  t.same(served.ok ? served.check : served.error, { ok: true }, 'the CA would accept the certificate');
  t.same(await controlRequest(control, `clean ${NAME}`), [`OK cleaned ${NAME}`]);
  t.same(await caVerdict(to, NAME, digest), 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME', 'cleaned: no longer served');

  t.equal(await proc.stop(), 0, 'SIGTERM: clean exit');
  t.ok(existsSync(control), 'the control socket file is systemd\'s: left in place');
  t.comment(lines().filter((l) => / event=(listen-fds|listening|control-listening|ready) /.test(l)).join('\n'));
});

t.test('unnamed descriptors are told apart by kind', requirePeers(t, ['systemd-socket-activate'], true), async (t) => {
  const { proc, control, port, lines } = await activate(t, []);
  t.match((await controlRequest(control, 'status', 15_000))[0], new RegExp(`listeners=127\\.0\\.0\\.1:${port} `));
  t.ok(lines().some((l) => l.includes(` event=listening address=127.0.0.1 port=${port} fd=3`)), 'TCP fd 3 is a TLS listener');
  t.ok(lines().some((l) => / event=control-listening fd=4$/.test(l)), 'Unix fd 4 is the control socket');
  t.match(lines().join('\n'), / event=listen-fds .*unset=LISTEN_PID,LISTEN_FDS$/m, 'no LISTEN_FDNAMES passed');
  t.equal(await proc.stop(), 0);
});

t.test('--workers 2: both workers accept on the passed listener, the primary keeps the passed control socket', requirePeers(t, ['systemd-socket-activate'], true), async (t) => {
  // Named, and unnamed: then the primary tells the TCP listener from the Unix control socket by kind (/proc/net/unix)
  // without opening either.
  for (const fdnames of [['--fdname=tls:control'], []]) {
    await t.test(fdnames.length > 0 ? 'named descriptors' : 'unnamed descriptors', (t) => activatedWorkers(t, fdnames));
  }
});

async function activatedWorkers(t: Test, fdnames: readonly string[]): Promise<void> {
  const { proc, control, port, dir, lines } = await activate(t, fdnames, ['--workers', '2']);
  const status = await controlRequest(control, 'status', 15_000);
  t.match(status[0], new RegExp(`^OK version=\\S+ uptime=\\d+s listeners=127\\.0\\.0\\.1:${port} workers=2 `), 'status: the passed listener, two workers');
  for (const worker of ['1', '2']) {
    t.ok(lines().some((l) => l.includes(` event=listening worker=${worker} address=127.0.0.1 port=${port} fd=3`)), `worker ${worker} accepts on fd 3`);
  }
  t.ok(lines().some((l) => / event=control-listening fd=4$/.test(l)), 'control socket adopted from fd 4 by the primary');
  t.notOk(existsSync(path.join(dir, 'own.sock')), '--control path not bound');

  t.match((await controlRequest(control, `deploy ${NAME} ${digest.toString('hex')}`))[0], /^OK deployed /);
  // Which worker accepts is the kernel's choice: handshake until both have served (each must pass the CA's checks).
  const to = { host: '127.0.0.1', port };
  const { total: handshakes, failures } = await untilEveryWorker({ to, lines }, NAME, ['1', '2'], { digest });
  t.same(failures, [], `all ${handshakes} handshakes passed the CA's checks, served by both workers`);
  t.same(await controlRequest(control, `clean ${NAME}`), [`OK cleaned ${NAME}`]);
  await waitUntil('no longer served', async () => ((await caVerdict(to, NAME, digest)) === 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' ? true : undefined));

  t.equal(await proc.stop(), 0, 'SIGTERM: clean exit');
  t.comment(lines().filter((l) => / event=(listen-fds|listening|control-listening|worker-ready|ready) /.test(l)).join('\n'));
}
