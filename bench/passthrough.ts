/**
 * Passthrough benchmark: the same HTTPS workload against nginx directly and through the daemon (which hands every
 * non-`acme-tls/1` connection to nginx), printed as one Markdown table. The load client is wrk, a compiled client,
 * so that the numbers describe the servers rather than a Node client. Run with `npm run bench:passthrough`. The
 * rows are those of the passthrough rows of `npm run bench` (see docs/performance.md), which also runs the same
 * cells through ualpn, plus the p99 and nginx's own CPU.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startDaemon } from '../test/helpers/daemon.js';
import { Cleanup, fmt, loadAverage, machine, processTree } from './common.js';
import {
  clientShare,
  cycleP50Ms,
  cycleP99Ms,
  LARGE_BODY,
  measureTarget,
  megabytesPerSecond,
  notPassedThrough,
  passthroughToolVersions,
  perConnectionUs,
  perMbMs,
  requestsPerSecond,
  restOfMachineShare,
  SMALL_CONNECTIONS,
  SMALL_THREADS,
  socketErrors,
  startPassthroughBackend,
  type TargetResult,
} from './passthrough-cells.js';

const WARMUP_SECONDS = 1;
const MEASURE_SECONDS = 5;

/** Markdown rendering of the comparison. */
function renderTable(direct: TargetResult, daemon: TargetResult): string {
  const percent = (value: number): string => `${fmt(value * 100, 0)} %`;
  const rows: Array<[string, string, string, string]> = [];
  const compare = (label: string, of: (result: TargetResult) => number, format: (value: number) => string): void => {
    const a = of(direct);
    const b = of(daemon);
    rows.push([label, format(a), format(b), a === 0 ? '—' : fmt(b / a, 2)]);
  };
  const small = `1 KiB, new TLS connection per request, ${SMALL_CONNECTIONS} connections`;
  compare(`${small}: requests/s`, (r) => requestsPerSecond(r.small), (v) => fmt(v, 0));
  compare('1 KiB, new TLS connection per request, 1 at a time: p50 latency (connect → response)', (r) => cycleP50Ms(r.latency), (v) => `${fmt(v, 3)} ms`);
  // The tail too: a relay that is often fast but sometimes waits would hide behind its median.
  compare('same, p99 latency', (r) => cycleP99Ms(r.latency), (v) => `${fmt(v, 3)} ms`);
  rows.push(['added latency p50 (daemon − direct)', '—', `+${fmt(cycleP50Ms(daemon.latency) - cycleP50Ms(direct.latency), 3)} ms`, '—']);
  compare(`${fmt(LARGE_BODY / 1024 / 1024, 0)} MiB body, keep-alive, 1 connection: MB/s`, (r) => megabytesPerSecond(r.large), (v) => fmt(v, 0));
  rows.push(['daemon CPU per connection (requests/s run)', '—', `${fmt(perConnectionUs(daemon.small.relaySeconds, daemon.small), 1)} µs`, '—']);
  rows.push(['daemon CPU per MB (10 MiB run)', '—', `${fmt(perMbMs(daemon.large.relaySeconds, daemon.large), 2)} ms`, '—']);
  compare('nginx CPU per connection (requests/s run)', (r) => perConnectionUs(r.small.nginxSeconds, r.small), (v) => `${fmt(v, 1)} µs`);
  compare('nginx CPU per MB (10 MiB run)', (r) => perMbMs(r.large.nginxSeconds, r.large), (v) => `${fmt(v, 2)} ms`);
  compare(`wrk CPU, share of its ${SMALL_THREADS} thread(s) (requests/s run)`, (r) => clientShare(r.small), percent);
  compare('wrk CPU, share of its 1 thread (10 MiB run)', (r) => clientShare(r.large), percent);

  const header = ['| metric | direct to nginx | through the daemon | daemon/direct |', '| --- | ---: | ---: | ---: |'];
  return [...header, ...rows.map((cells) => `| ${cells.join(' | ')} |`)].join('\n');
}

async function main(cleanup: Cleanup, signal: AbortSignal): Promise<void> {
  // Other work on the machine takes CPU from nginx and the daemon alike; the load average lets a reader judge.
  const loadAtStart = loadAverage();
  const { nginx, context } = await startPassthroughBackend(cleanup, signal, { warmupSeconds: WARMUP_SECONDS, measureSeconds: MEASURE_SECONDS });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ar-bench-'));
  cleanup.teardown(() => rm(dir, { recursive: true, force: true }));
  const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir, args: ['--backend', `127.0.0.1:${nginx.port}`] });
  cleanup.teardown(() => daemon.stop());
  signal.throwIfAborted();
  const daemonPort = daemon.listeners[0]?.port;
  if (daemonPort === undefined) throw new Error(`the daemon logged no event=listening\n${daemon.process.output()}`);

  process.stderr.write(`nginx on 127.0.0.1:${nginx.port}, daemon on 127.0.0.1:${daemonPort}; ${WARMUP_SECONDS} s warm-up + ${MEASURE_SECONDS} s per cell\n`);
  const direct = await measureTarget(context, { name: 'direct', port: nginx.port }, nginx);
  const daemonPid = daemon.process.child.pid ?? 0;
  // The daemon and any worker processes it runs.
  const throughDaemon = await measureTarget(context, { name: 'daemon', port: daemonPort, relayPids: () => processTree(daemonPid) }, nginx);

  // Every connection the daemon took must have been passed on.
  const notPassed = daemon.logLines().filter(notPassedThrough);
  if (notPassed.length > 0) throw new Error(`${notPassed.length} connection(s) not passed through, e.g.\n${notPassed.slice(0, 3).join('\n')}`);

  const errors = socketErrors([direct, throughDaemon]);
  process.stdout.write(`${renderTable(direct, throughDaemon)}\n\n`);
  process.stdout.write(
    `${machine()}; ${passthroughToolVersions()}; node ${process.version}; ` +
      `${WARMUP_SECONDS} s warm-up + ${MEASURE_SECONDS} s per cell; the daemon as the test helper starts it (one process: --workers 1 where the build has the flag; log level info, one line per connection), CPU summed over its processes; loopback only; ` +
      `rest of the machine (other processes, interrupts) ${fmt(restOfMachineShare([direct, throughDaemon]) * 100, 0)} % of the cores over the measured runs; ` +
      `load average (1 min) ${loadAtStart.toFixed(2)} at start, ${loadAverage().toFixed(2)} at end\n`,
  );
  if (errors > 0) process.stdout.write(`warning: wrk counted ${errors} socket error(s) (connect/read/write/timeout)\n`);
}

const cleanup = new Cleanup();
const abort = new AbortController();
let exitOnSignal = 0;
for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  // No exit here: main unwinds at its next step (a running wrk is stopped), so a peer that was still starting
  // gets registered and then stopped by the cleanup like the others.
  process.on(name, () => {
    if (abort.signal.aborted) return;
    process.stderr.write(`\n${name}: stopping wrk, the daemon and nginx\n`);
    exitOnSignal = 128 + os.constants.signals[name];
    abort.abort();
  });
}
try {
  await main(cleanup, abort.signal);
} catch (error) {
  process.exitCode = exitOnSignal || 1;
  if (!abort.signal.aborted) process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
} finally {
  await cleanup.run();
}
