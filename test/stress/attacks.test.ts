/**
 * The daemon under attack, as a child process built from dist/: floods of idle and slow connections, handshake
 * floods, and hostile backends. In each, a CA-style acme-tls/1 handshake (checked as the CA checks the certificate)
 * must keep succeeding during the attack and after it, and the daemon's peak memory (VmHWM) must stay bounded.
 * The attackers run in their own process (test/helpers/attacker.ts) so their load does not slow the probes.
 * Figures are reported with t.comment.
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { checkChallengeCertificate } from '../../src/diagnostics/verify.js';
import { DEFAULT_HANDSHAKE_BURST, DEFAULT_HANDSHAKE_RATE } from '../../src/constants.js';
import type { AttackPlan, AttackReport } from '../helpers/attacker.js';
import { alpnExtension, helloRecords, serverNameExtension, supportedVersionsExtension } from '../fixtures/client-hello/encoder.js';
import { freePort, logField, REPO_ROOT, requirePeers, spawnManaged, startDaemon, waitUntil, type Daemon } from '../helpers/daemon.js';
import { shortTempDir } from '../helpers/tmp.js';

const NAME = 'attack.example.test';
const DIGEST = createHash('sha256').update(`token.${'A'.repeat(43)}`).digest();
/** The least time the floods last once the attacker is ready (longer if the probes need it, see probeWhile). */
const ATTACK_MS = 3000;
/**
 * Peak resident memory the daemon may reach in the other attacks. Idle it sits near 60 MiB; the floods peak near
 * 170 MiB (garbage V8 collects lazily), far from growing with the attack.
 */
const MAX_RSS_MIB = 320;
/**
 * Attacking connections held by the idle and slowloris attacks, opened over {@link RAMP_MS}, against the default
 * --max-connections (4096): the daemon must evict at least the difference, and keep evicting as they reconnect.
 */
const HELD_CONNECTIONS = 10_000;
const RAMP_MS = 5000;
/**
 * The least time they are held once all are open: under that churn a probe can take ~300 ms, so this leaves ~15
 * probes on a quiet machine; on a loaded one the attack lasts until {@link MIN_PROBES} have completed.
 */
const HOLD_MS = 5000;
const DEFAULT_MAX_CONNECTIONS = 4096;
/**
 * Peak RSS bound for those two: 4096 held connections plus the garbage of ~10,000 reconnections a second (about
 * 400 MiB seen on 2 cores; the idle attack held for 15 s instead of 3 s peaked at the same: bounded by the cap,
 * not growing with time).
 */
const MAX_HELD_RSS_MIB = 512;
/** Probes sent during one attack, back to back: at least the first, at most the second. */
const MIN_PROBES = 3;
const MAX_PROBES = 40;

/** Starts the built daemon on 127.0.0.1 with `args` and the challenge for {@link NAME} deployed. */
async function daemonWith(t: Test, args: readonly string[]): Promise<Daemon & { port: number }> {
  const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir: shortTempDir(t), args });
  t.teardown(() => daemon.stop());
  t.match((await daemon.request(`deploy ${NAME} ${DIGEST.toString('hex')}`))[0], /^OK deployed/);
  return { ...daemon, port: daemon.listeners[0]!.port };
}

/** Peak resident set of a process so far, in MiB. */
function peakRssMiB(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1]) / 1024;
}

interface Probe {
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: string;
}

/** One CA-style validation: acme-tls/1 with the deployed name, and the certificate checked as the CA does. */
function probe(port: number, localAddress = '127.0.0.2'): Promise<Probe> {
  const started = performance.now();
  return new Promise((resolve) => {
    // From its own address, as a CA's vantage point is: tls.connect takes no localAddress, so connect first.
    const tcp = net.connect({ host: '127.0.0.1', port, localAddress });
    const socket = tls.connect({ socket: tcp, servername: NAME, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }, () => {
      const der = socket.getPeerCertificate().raw;
      const alpn = socket.alpnProtocol;
      socket.end();
      void checkChallengeCertificate(new Uint8Array(der), parseIdentifier(NAME), DIGEST).then((check) => {
        const ms = performance.now() - started;
        resolve(check.ok && alpn === 'acme-tls/1' ? { ok: true, ms } : { ok: false, ms, error: check.ok ? `alpn ${String(alpn)}` : check.problem });
      });
    });
    tcp.setTimeout(10_000, () => socket.destroy(new Error('probe timed out')));
    tcp.on('error', () => undefined); // Reported through the TLS socket.
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ ok: false, ms: performance.now() - started, error: error.code ?? error.message }));
  });
}

/**
 * Probes back to back while `busy()` holds: until at least {@link MIN_PROBES} have completed and `minMs` has passed,
 * at most {@link MAX_PROBES}. The count of probes, not a time window, ends it, so a slow machine makes the attack
 * last longer rather than leaving too few probes to judge by.
 */
async function probeWhile(port: number, busy: () => boolean, minMs = 0): Promise<Probe[]> {
  const probes: Probe[] = [];
  const started = performance.now();
  const enough = (): boolean => probes.length >= MIN_PROBES && performance.now() - started >= minMs;
  while (busy() && probes.length < MAX_PROBES && !enough()) probes.push(await probe(port));
  return probes;
}

function summary(probes: readonly Probe[]): string {
  const ms = probes.filter((p) => p.ok).map((p) => p.ms).sort((a, b) => a - b);
  const at = (q: number): string => (ms.length === 0 ? '-' : (ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] as number).toFixed(1));
  return `${probes.filter((p) => p.ok).length}/${probes.length} ok, latency p50 ${at(0.5)} ms, max ${at(1)} ms`;
}

/**
 * Runs an attacker process; `during` runs once it is ready, and when it resolves the attack is stopped (SIGUSR2).
 * Resolves with the attacker's report, what `during` returned, and how long the attack lasted from start to stop.
 */
async function attack<T>(t: Test, plan: AttackPlan, during: (running: () => boolean) => Promise<T>): Promise<{ report: AttackReport; result: T; seconds: number }> {
  const started = performance.now();
  const attacker = spawnManaged('attacker', process.execPath, ['--import', '@tapjs/typescript/import', path.join(REPO_ROOT, 'test/helpers/attacker.ts'), JSON.stringify(plan)], {
    cwd: REPO_ROOT,
  });
  t.teardown(() => attacker.stop());
  // A hang guard: ramping 10,000 connections up takes seconds; an attacker that exits fails at once.
  await waitUntil('attacker ready', () => (attacker.output().includes('ready\n') ? true : attacker.exitState() !== undefined ? Promise.reject(new Error(attacker.output())) : undefined), 120_000);
  const result = await during(() => attacker.exitState() === undefined);
  attacker.child.kill('SIGUSR2');
  await attacker.exited;
  const seconds = (performance.now() - started) / 1000;
  const line = attacker.output().split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`attacker printed no report:\n${attacker.output()}`);
  return { report: JSON.parse(line) as AttackReport, result, seconds };
}

/** The checks every attack ends with: probes during it all succeeded, the daemon recovered, memory stayed bounded. */
async function assertSurvived(
  t: Test,
  daemon: Daemon & { port: number },
  label: string,
  during: readonly Probe[],
  report: AttackReport,
  maxRssMiB = MAX_RSS_MIB,
): Promise<void> {
  t.ok(during.length >= MIN_PROBES, `${label}: probed ${during.length} times during the attack`);
  t.same(during.filter((p) => !p.ok), [], `${label}: every CA handshake during the attack succeeded`);
  const after = await probe(daemon.port);
  t.ok(after.ok, `${label}: a CA handshake after the attack succeeds (${after.ms.toFixed(1)} ms)`);
  t.equal(daemon.process.exitState(), undefined, `${label}: the daemon is still running`);
  const rss = peakRssMiB(daemon.process.child.pid!);
  t.ok(rss < maxRssMiB, `${label}: peak RSS ${rss.toFixed(0)} MiB < ${maxRssMiB} MiB`);
  t.comment(`${label}: during: ${summary(during)}; after: ${after.ms.toFixed(1)} ms; daemon VmHWM ${rss.toFixed(0)} MiB; attacker ${JSON.stringify(report)}`);
}

/** Lines of `event=connection-limit` with the given action. */
function limitLines(daemon: Daemon, action: string): string[] {
  return daemon.logLines().filter((line) => / event=connection-limit /.test(line) && logField(line, 'action') === action);
}

t.test('attacks on the TLS port', { ...requirePeers(t, [], true) }, async (t) => {
  t.test('idle connections above --max-connections: the oldest are evicted, the CA gets in', async (t) => {
    const daemon = await daemonWith(t, ['--max-connections-per-source', '100000']);
    const plan: AttackPlan = { mode: 'idle', host: '127.0.0.1', port: daemon.port, connections: HELD_CONNECTIONS, rampMs: RAMP_MS };
    const { report, result, seconds } = await attack(t, plan, (running) => probeWhile(daemon.port, running, HOLD_MS));
    t.ok(report.closedByPeer >= HELD_CONNECTIONS - DEFAULT_MAX_CONNECTIONS, `the daemon closed ${report.closedByPeer} idle connections to stay under ${DEFAULT_MAX_CONNECTIONS}`);
    const evicted = limitLines(daemon, 'evicted');
    t.ok(evicted.length >= 1, 'evictions are logged');
    t.ok(evicted.length <= Math.ceil(seconds) + 3, `at most one line a second (${evicted.length} lines in ${seconds.toFixed(1)} s)`);
    t.ok(evicted.some((line) => Number(logField(line, 'suppressed')) > 0), 'with a count of the suppressed ones');
    await assertSurvived(t, daemon, `idle x${HELD_CONNECTIONS} (max ${DEFAULT_MAX_CONNECTIONS})`, result, report, MAX_HELD_RSS_MIB);
  });

  t.test('slowloris: partial ClientHellos a byte at a time', async (t) => {
    const daemon = await daemonWith(t, ['--max-connections-per-source', '100000']);
    const plan: AttackPlan = {
      mode: 'slow',
      host: '127.0.0.1',
      port: daemon.port,
      connections: HELD_CONNECTIONS,
      rampMs: RAMP_MS,
      intervalMs: 100,
      helloFile: path.join(REPO_ROOT, 'test/fixtures/client-hello/node-acme.bin'),
    };
    const { report, result } = await attack(t, plan, (running) => probeWhile(daemon.port, running, HOLD_MS));
    t.ok(report.closedByPeer >= HELD_CONNECTIONS - DEFAULT_MAX_CONNECTIONS, `the daemon closed ${report.closedByPeer} slow connections`);
    await assertSurvived(t, daemon, `slowloris x${HELD_CONNECTIONS} (max ${DEFAULT_MAX_CONNECTIONS})`, result, report, MAX_HELD_RSS_MIB);
  });

  for (const alpn of [['acme-tls/1'], ['h2', 'http/1.1']]) {
    t.test(`handshake flood offering ${alpn.join(',')}`, async (t) => {
      const daemon = await daemonWith(t, ['--max-connections-per-source', '100000']);
      const plan: AttackPlan = { mode: 'flood', host: '127.0.0.1', port: daemon.port, connections: 200, alpn, servername: NAME };
      const { report, result, seconds } = await attack(t, plan, (running) => probeWhile(daemon.port, running, ATTACK_MS));
      const label = `flood ${alpn.join(',')} (200 in flight)`;
      t.comment(`${label}: ${report.handshakes} handshakes completed, ${report.closedByPeer} refused, in ${seconds.toFixed(1)} s`);
      await assertSurvived(t, daemon, label, result, report);
    });
  }

  t.test('one source churning a captured acme-tls/1 hello is held to --handshake-rate; the CA from another address gets through', async (t) => {
    // Default limits, as deployed: the attacker replays a real hello for a deployed name, 64 in flight.
    const daemon = await daemonWith(t, []);
    t.match((await daemon.request(`deploy node.example.com ${DIGEST.toString('hex')}`))[0], /^OK deployed/);
    const plan: AttackPlan = {
      mode: 'churn',
      host: '127.0.0.1',
      port: daemon.port,
      connections: 64,
      helloFile: path.join(REPO_ROOT, 'test/fixtures/client-hello/node-acme.bin'),
    };
    const { report, result, seconds } = await attack(t, plan, (running) => probeWhile(daemon.port, running, ATTACK_MS));
    // Each outcome line for the replayed name is a handshake the daemon began (a key exchange and a signature);
    // connections refused over the rate get none.
    const costly = daemon.logLines().filter((line) => / event=connection /.test(line) && logField(line, 'sni') === 'node.example.com').length;
    const bound = DEFAULT_HANDSHAKE_BURST + Math.ceil(DEFAULT_HANDSHAKE_RATE * seconds);
    t.ok(report.handshakes > bound, `the attacker was answered ${report.handshakes} times`);
    t.ok(costly <= bound, `${costly} of them cost a key exchange: at most the burst and the rate over ${seconds.toFixed(1)} s (${bound})`);
    t.ok(limitLines(daemon, 'refused').some((line) => logField(line, 'limit') === 'handshake-rate' && logField(line, 'remote') === '127.0.0.1'), 'the refusals are logged');
    await assertSurvived(t, daemon, 'churn of captured acme-tls/1 hellos (64 in flight)', result, report);
  });

  t.test('one source over --max-connections-per-source cannot crowd out another', async (t) => {
    const daemon = await daemonWith(t, ['--max-connections-per-source', '50']);
    const plan: AttackPlan = { mode: 'idle', host: '127.0.0.1', port: daemon.port, connections: 50 };
    const { report, result } = await attack(t, plan, async (running) => {
      // The attacker (127.0.0.1) holds its 50; a 51st from it is refused, the CA (127.0.0.2) is not.
      const extra = await probe(daemon.port, '127.0.0.1');
      t.equal(extra.ok, false, 'a 51st connection from the attacker is refused');
      return probeWhile(daemon.port, running, ATTACK_MS);
    });
    t.ok(limitLines(daemon, 'refused').some((line) => logField(line, 'limit') === 'max-connections-per-source'), 'the refusal is logged');
    await assertSurvived(t, daemon, 'per-source cap 50', result, report);
  });
});

/** A ClientHello without acme-tls/1, so the daemon passes the connection to the backend for `servername`. */
function passthroughHello(servername: string): Uint8Array {
  return helloRecords({ extensions: [serverNameExtension(servername), alpnExtension('http/1.1'), supportedVersionsExtension(0x0304, 0x0303)] });
}

t.test('hostile backends', { ...requirePeers(t, [], true) }, async (t) => {
  // One that accepts and never reads, one that resets every connection, and a port nobody listens on.
  const stalled = new Set<net.Socket>();
  const stall = net.createServer((socket) => {
    stalled.add(socket);
    socket.pause();
    socket.on('error', () => undefined);
  });
  const reset = net.createServer((socket) => socket.resetAndDestroy());
  for (const server of [stall, reset]) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of stalled) socket.destroy();
    stall.close();
    reset.close();
  });
  const portOf = (server: net.Server): number => (server.address() as net.AddressInfo).port;
  const gonePort = await freePort();
  const daemon = await daemonWith(t, [
    '--idle-timeout', '1',
    '--backend', `stall.test=127.0.0.1:${portOf(stall)}`,
    '--backend', `reset.test=127.0.0.1:${portOf(reset)}`,
    '--backend', `gone.test=127.0.0.1:${gonePort}`,
  ]);

  t.test('a backend that never reads: the upload stalls with bounded memory, and the idle timeout closes it', async (t) => {
    const client = net.connect({ host: '127.0.0.1', port: daemon.port });
    t.teardown(() => client.destroy());
    client.on('error', () => undefined);
    await new Promise((resolve) => client.once('connect', resolve));
    client.write(passthroughHello('stall.test'));
    // Upload once the daemon has passed the connection on (a TLS client would wait for the ServerHello anyway).
    await waitUntil('the connection reaches the backend', () => (stalled.size > 0 ? true : undefined));
    // Upload 1 MiB chunks whenever the socket takes them, until it stops taking them (backpressure) or closes.
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    let closed = false;
    const closedAt = new Promise<number>((resolve) => client.once('close', () => resolve(performance.now())));
    void closedAt.then(() => (closed = true));
    const pump = (): void => {
      while (!closed && client.write(chunk));
    };
    client.on('drain', pump);
    pump();
    const probes = await probeWhile(daemon.port, () => !closed);
    const stalledAt = performance.now();
    const end = await closedAt;
    const uploaded = client.bytesWritten / 2 ** 20;
    t.ok(uploaded < 64, `the upload stalled after ${uploaded.toFixed(1)} MiB (nothing is buffered without bound)`);
    t.ok(end - stalledAt < 5000, 'the idle timeout closed the stalled connection');
    await assertSurvived(t, daemon, 'never-reading backend', probes, { opened: 1, closedByPeer: 1, handshakes: 0, errors: {} });
  });

  for (const name of ['reset.test', 'gone.test']) {
    t.test(`${name}: the client is closed, the daemon carries on`, async (t) => {
      const clients = await Promise.all(
        Array.from({ length: 50 }, () =>
          new Promise<boolean>((resolve) => {
            const client = net.connect({ host: '127.0.0.1', port: daemon.port }, () => client.write(passthroughHello(name)));
            client.on('error', () => undefined);
            client.resume();
            client.once('close', () => resolve(true));
          }),
        ),
      );
      t.equal(clients.length, 50, 'all 50 connections were closed');
      const probes = await probeWhile(daemon.port, () => true);
      await assertSurvived(t, daemon, `backend ${name}`, probes.slice(0, 5), { opened: 50, closedByPeer: 50, handshakes: 0, errors: {} });
    });
  }
});
