/**
 * Handshake flood against the CA: CA-style `acme-tls/1` validations from 127.0.0.2 (3 at once, as pebble makes
 * them, every 200 ms; each checks the certificate as the CA does), measured without and with one source (127.0.0.1) churning a
 * captured acme-tls/1 ClientHello for a deployed name as fast as it can (64 in flight, hanging up as soon as the
 * daemon answers: test/helpers/attacker.ts, mode `churn`). Once with the daemon's defaults (--handshake-rate 20,
 * --handshake-burst 200), once with the rate limit lifted. `--workers 1`, default log level (info), fresh daemon
 * per configuration. Prints one Markdown table: the CA's p50 / p99 / max latency, how many validations succeeded,
 * the attacker's connections per second and the daemon's CPU. Run with `npm run bench:flood`.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { parseIdentifier } from '../src/challenge/identifier.js';
import { checkChallengeCertificate } from '../src/diagnostics/verify.js';
import type { AttackPlan, AttackReport } from '../test/helpers/attacker.js';
import { REPO_ROOT, spawnManaged, startDaemon, waitUntil, type Daemon } from '../test/helpers/daemon.js';
import { cpuSeconds, fmt, loadAverage, machine, percentile, processTree } from './common.js';

/** How long each cell validates. */
const MEASURE_MS = 10_000;
/** Connections per challenge from the CA's address, made at once (as pebble makes them). */
const CA_PARALLEL = 3;
/** A challenge every this many milliseconds: 15 handshakes a second from one address, a busy CA's pace. */
const CHALLENGE_EVERY_MS = 200;
const CA_ADDRESS = '127.0.0.2';
const FLOOD_IN_FLIGHT = 64;
/** The name the CA validates, and the one the captured hello asks for (both deployed). */
const CA_NAME = 'ca.bench.test';
const FLOODED_NAME = 'node.example.com';
const HELLO_FILE = path.join(REPO_ROOT, 'test/fixtures/client-hello/node-acme.bin');

const digestOf = (name: string): Buffer => createHash('sha256').update(name).digest();

interface Validation {
  readonly ok: boolean;
  readonly ms: number;
}

/** One validation as the CA makes it, from {@link CA_ADDRESS}: connect, handshake, check the certificate. */
function validate(port: number): Promise<Validation> {
  const started = performance.now();
  return new Promise((resolve) => {
    const tcp = net.connect({ host: '127.0.0.1', port, localAddress: CA_ADDRESS });
    const socket = tls.connect({ socket: tcp, servername: CA_NAME, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }, () => {
      const der = socket.getPeerCertificate().raw;
      const alpn = socket.alpnProtocol;
      socket.end();
      void checkChallengeCertificate(new Uint8Array(der), parseIdentifier(CA_NAME), digestOf(CA_NAME)).then((check) =>
        resolve({ ok: check.ok && alpn === 'acme-tls/1', ms: performance.now() - started }),
      );
    });
    tcp.setTimeout(10_000, () => socket.destroy(new Error('timed out')));
    tcp.on('error', () => undefined);
    socket.on('error', () => resolve({ ok: false, ms: performance.now() - started }));
  });
}

/**
 * A challenge ({@link CA_PARALLEL} validations at once) every {@link CHALLENGE_EVERY_MS} for {@link MEASURE_MS},
 * whether the earlier ones have finished or not; the daemon's CPU over the same window.
 */
async function measure(daemon: Daemon, port: number): Promise<{ validations: Validation[]; cpuShare: number }> {
  const pending: Promise<Validation>[] = [];
  const pids = processTree(daemon.process.child.pid ?? 0);
  const cpuBefore = cpuSeconds(pids);
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      for (let i = 0; i < CA_PARALLEL; i++) pending.push(validate(port));
      if (performance.now() - started >= MEASURE_MS) {
        clearInterval(timer);
        resolve();
      }
    }, CHALLENGE_EVERY_MS);
  });
  const validations = await Promise.all(pending);
  return { validations, cpuShare: (cpuSeconds(pids) - cpuBefore) / ((performance.now() - started) / 1000) };
}

interface Row {
  readonly config: string;
  readonly flood: boolean;
  readonly validations: readonly Validation[];
  readonly cpuShare: number;
  readonly report: AttackReport | undefined;
  /** How long the flood ran, from the attacker ready to told to stop. */
  readonly floodSeconds?: number;
}

const dirs: string[] = [];
process.on('exit', () => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
const stops: (() => Promise<unknown>)[] = [];
process.on('SIGINT', () => void Promise.all(stops.map((stop) => stop())).then(() => process.exit(130)));

async function run(config: string, flags: readonly string[]): Promise<Row[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ar-bench-flood-'));
  dirs.push(dir);
  const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir, args: ['--workers', '1', ...flags] });
  stops.push(() => daemon.stop());
  const port = daemon.listeners[0]!.port;
  for (const name of [CA_NAME, FLOODED_NAME]) {
    const [reply] = await daemon.request(`deploy ${name} ${digestOf(name).toString('hex')}`);
    if (!reply?.startsWith('OK')) throw new Error(`deploy ${name}: ${String(reply)}`);
  }
  // Warm up (V8 compiling the hot paths), not measured; then a quiet second refills the CA's bucket.
  for (let i = 0; i < 20; i++) await validate(port);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const rows: Row[] = [];
  const quiet = await measure(daemon, port);
  rows.push({ config, flood: false, ...quiet, report: undefined });

  const plan: AttackPlan = { mode: 'churn', host: '127.0.0.1', port, connections: FLOOD_IN_FLIGHT, helloFile: HELLO_FILE };
  const attacker = spawnManaged('attacker', process.execPath, ['--import', '@tapjs/typescript/import', path.join(REPO_ROOT, 'test/helpers/attacker.ts'), JSON.stringify(plan)], { cwd: REPO_ROOT });
  stops.push(() => attacker.stop());
  await waitUntil('attacker ready', () => (attacker.output().includes('ready\n') ? true : undefined), 30_000);
  const started = performance.now();
  const flooded = await measure(daemon, port);
  // The attacker floods until told to stop.
  attacker.child.kill('SIGUSR2');
  await attacker.exited;
  const floodSeconds = (performance.now() - started) / 1000;
  const line = attacker.output().split('\n').find((l) => l.startsWith('{'));
  rows.push({ config, flood: true, ...flooded, report: line === undefined ? undefined : (JSON.parse(line) as AttackReport), floodSeconds });
  await daemon.stop();
  return rows;
}

const rows = [
  ...(await run('defaults (--handshake-rate 20 --handshake-burst 200)', [])),
  ...(await run('no rate limit (--handshake-rate 1000000 --handshake-burst 1000000)', ['--handshake-rate', '1000000', '--handshake-burst', '1000000'])),
];

console.log(`| daemon | flood from 127.0.0.1 | CA validations ok | CA p50 | CA p99 | CA max | flood connections/s | daemon CPU |`);
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) {
  const ms = row.validations.filter((v) => v.ok).map((v) => v.ms);
  const flood = row.report === undefined || row.floodSeconds === undefined ? '—' : fmt(row.report.opened / row.floodSeconds, 0);
  console.log(
    `| ${row.config} | ${row.flood ? `churn, ${FLOOD_IN_FLIGHT} in flight` : 'none'} | ${ms.length}/${row.validations.length} | ` +
      `${fmt(percentile(ms, 0.5), 1)} ms | ${fmt(percentile(ms, 0.99), 1)} ms | ${fmt(Math.max(...ms), 1)} ms | ${flood} | ${fmt(row.cpuShare * 100, 0)} % |`,
  );
}
console.log(
  `\nCA: ${CA_PARALLEL} validations at once every ${CHALLENGE_EVERY_MS} ms from ${CA_ADDRESS} for ${MEASURE_MS / 1000} s per row ` +
    `(latency: connect → certificate checked). ` +
    `Daemon: --workers 1, log level info. ${machine()}; node ${process.version}; load average ${loadAverage().toFixed(2)}`,
);
