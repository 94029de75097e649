/**
 * Passthrough benchmark: the same HTTPS workload against nginx directly and through the daemon (which hands every
 * non-`acme-tls/1` connection to nginx), printed as one Markdown table. The load client is wrk, a compiled client,
 * so that the numbers describe the servers rather than a Node client. Run with `npm run bench:passthrough`; see
 * bench/README.md for what each row means.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import { CLI_PATH, cleanEnv, REPO_ROOT, spawnManaged, startDaemon, which } from '../test/helpers/daemon.js';
import { NGINX_PEERS, startNginx } from '../test/helpers/nginx.js';

const execFileAsync = promisify(execFile);

const WARMUP_SECONDS = 1;
const MEASURE_SECONDS = 5;
/** Concurrent connections of the requests/s cell: enough to keep nginx busy, far below its worker_connections. */
const SMALL_CONNECTIONS = 16;
/** wrk threads of the requests/s cell: one per core (up to 4), since a single thread doing every handshake would be the bottleneck. */
const SMALL_THREADS = Math.max(1, Math.min(os.availableParallelism(), 4));
const SMALL_BODY = 1024;
const LARGE_BODY = 10 * 1024 * 1024;
/** The decimal megabyte, as network throughput is usually quoted. */
const MB = 1_000_000;
/** How long past its own duration a wrk run may take before it is killed. */
const WRK_GRACE_MS = 30_000;

/** Debian package of each binary the benchmark runs. */
const APT_PACKAGES: Record<string, string> = { wrk: 'wrk', nginx: 'nginx', openssl: 'openssl' };

/** Cleanup actions, run last-registered first once main has returned or thrown (Ctrl-C included). */
class Cleanup {
  readonly #actions: Array<() => unknown> = [];

  teardown(action: () => unknown): void {
    this.#actions.push(action);
  }

  async run(): Promise<void> {
    for (let action = this.#actions.pop(); action !== undefined; action = this.#actions.pop()) {
      try {
        await action();
      } catch (error) {
        process.stderr.write(`cleanup: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  }

  /** startNginx takes a tap Test only to call its teardown(), which this class has with the same meaning. */
  asTest(): Test {
    return this as unknown as Test;
  }
}

/** Utime + stime, in clock ticks, of a `/proc/<pid>/stat` line. */
function cpuTicks(stat: string): number {
  // The command name (field 2) may hold spaces and parentheses, so fields are counted after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function parentPid(stat: string): number {
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

async function readStat(pid: number): Promise<string | undefined> {
  return readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
}

async function processCpuTicks(pid: number): Promise<number> {
  const stat = await readStat(pid);
  if (stat === undefined) throw new Error(`process ${pid} is gone`);
  return cpuTicks(stat);
}

/** CPU of the nginx master and its workers (found afresh each time, as nginx would replace a dead worker). */
async function nginxCpuTicks(masterPid: number): Promise<number> {
  let total = await processCpuTicks(masterPid);
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readStat(Number(entry));
    if (stat !== undefined && parentPid(stat) === masterPid) total += cpuTicks(stat);
  }
  return total;
}

/**
 * The wrk script. Its done() prints, after wrk's own report, `BENCH` lines with the run's totals and wrk's own
 * CPU time (from /proc/self/stat once every thread has finished, so no client CPU is missed or borrowed from
 * another process). With `cycles`, response() also records the time between consecutive responses of each
 * thread: with one connection per thread and `Connection: close`, that is TCP connect + TLS handshake + request +
 * response, the whole cost of a new connection, where wrk's own latency starts after the handshake. It is kept
 * out of throughput runs because defining response() makes wrk copy every body into Lua.
 */
function wrkScript(cycles: boolean): string {
  const collect = `
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now)
  return tonumber(now.tv_sec) * 1e6 + tonumber(now.tv_nsec) / 1e3
end
cycles = {}
local last
function response(status, headers, body)
  local t = now_us()
  if last ~= nil then cycles[#cycles + 1] = string.format("%.1f", t - last) end
  last = t
end
`;
  return `${cycles ? collect : ''}
local threads = {}
function setup(thread) threads[#threads + 1] = thread end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH summary %d %d %d %d %d %d %d %d\\n", summary.requests, summary.bytes, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout))
  local file = io.open("/proc/self/stat")
  io.write("BENCH stat ", (file:read("*l")), "\\n")
  file:close()
${cycles ? '  for _, thread in ipairs(threads) do io.write("BENCH cycles ", table.concat(thread:get("cycles"), ","), "\\n") end' : ''}
end
`;
}

interface WrkRun {
  requests: number;
  bytes: number;
  seconds: number;
  socketErrors: number;
  /** wrk's CPU time, clock ticks. */
  clientTicks: number;
  threads: number;
  /** New-connection cycle times, microseconds (only with `cycles`). */
  cyclesUs: number[];
}

interface WrkOptions {
  url: string;
  threads: number;
  connections: number;
  seconds: number;
  /** `Connection: close`: nginx closes after each response, so wrk opens a new connection (and handshake) per request. */
  newConnectionPerRequest: boolean;
  cycles: boolean;
}

/** Paths and handles every wrk run shares. */
interface Context {
  cleanup: Cleanup;
  signal: AbortSignal;
  scripts: { plain: string; cycles: string };
}

async function runWrk(context: Context, options: WrkOptions): Promise<WrkRun> {
  context.signal.throwIfAborted();
  const args = [
    '-t', String(options.threads),
    '-c', String(options.connections),
    '-d', `${options.seconds}s`,
    '--timeout', '10s',
    '-s', options.cycles ? context.scripts.cycles : context.scripts.plain,
    ...(options.newConnectionPerRequest ? ['-H', 'Connection: close'] : []),
    options.url,
  ];
  const wrk = spawnManaged('wrk', 'wrk', args, { env: cleanEnv() });
  context.cleanup.teardown(() => wrk.stop());
  const stop = (): void => void wrk.stop();
  context.signal.addEventListener('abort', stop, { once: true });
  const timer = setTimeout(stop, options.seconds * 1000 + WRK_GRACE_MS);
  const code = await wrk.exited;
  clearTimeout(timer);
  context.signal.removeEventListener('abort', stop);
  context.signal.throwIfAborted();
  const output = wrk.output();
  const lines = output.split('\n');
  const summary = lines.find((line) => line.startsWith('BENCH summary '));
  const stat = lines.find((line) => line.startsWith('BENCH stat '));
  if (code !== 0 || summary === undefined || stat === undefined) {
    throw new Error(`wrk ${args.join(' ')} exited ${code}\n${output}`);
  }
  const [requests = 0, bytes = 0, durationUs = 0, connect = 0, read = 0, write = 0, status = 0, timeout = 0] = summary
    .slice('BENCH summary '.length)
    .split(' ')
    .map(Number);
  if (requests === 0 || status > 0) throw new Error(`wrk ${options.url}: ${requests} requests, ${status} not 2xx/3xx\n${output}`);
  const cyclesUs = lines
    .filter((line) => line.startsWith('BENCH cycles '))
    .flatMap((line) => line.slice('BENCH cycles '.length).split(',').filter((s) => s !== '').map(Number));
  return {
    requests,
    bytes,
    seconds: durationUs / 1e6,
    socketErrors: connect + read + write + timeout,
    clientTicks: cpuTicks(stat.slice('BENCH stat '.length)),
    threads: options.threads,
    cyclesUs,
  };
}

/** Nearest-rank percentile, `q` in (0, 1]. */
function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

/** One measured wrk run with the servers' CPU over it. */
interface Cell {
  run: WrkRun;
  daemonTicks: number;
  nginxTicks: number;
}

/** Everything measured against one entry point (nginx itself, or the daemon in front of it). */
interface Target {
  name: string;
  port: number;
  /** The daemon's pid, when the target is the daemon. */
  daemonPid?: number;
}

interface TargetResult {
  small: Cell;
  latency: Cell;
  large: Cell;
}

async function measureTarget(context: Context, target: Target, nginxPid: number): Promise<TargetResult> {
  const cell = async (urlPath: string, options: Omit<WrkOptions, 'url' | 'seconds'>): Promise<Cell> => {
    const url = `https://127.0.0.1:${target.port}${urlPath}`;
    process.stderr.write(`  ${target.name}: ${url} (${options.connections} connection(s)${options.newConnectionPerRequest ? ', new one per request' : ', keep-alive'})\n`);
    // Warm-up, not measured: V8 optimizes the daemon's hot paths and both servers reach their steady state.
    await runWrk(context, { ...options, url, seconds: WARMUP_SECONDS });
    const daemonBefore = target.daemonPid === undefined ? 0 : await processCpuTicks(target.daemonPid);
    const nginxBefore = await nginxCpuTicks(nginxPid);
    const run = await runWrk(context, { ...options, url, seconds: MEASURE_SECONDS });
    const daemonAfter = target.daemonPid === undefined ? 0 : await processCpuTicks(target.daemonPid);
    return { run, daemonTicks: daemonAfter - daemonBefore, nginxTicks: (await nginxCpuTicks(nginxPid)) - nginxBefore };
  };
  const small = `/bytes/${SMALL_BODY}`;
  return {
    small: await cell(small, { threads: SMALL_THREADS, connections: SMALL_CONNECTIONS, newConnectionPerRequest: true, cycles: false }),
    latency: await cell(small, { threads: 1, connections: 1, newConnectionPerRequest: true, cycles: true }),
    large: await cell(`/bytes/${LARGE_BODY}`, { threads: 1, connections: 1, newConnectionPerRequest: false, cycles: false }),
  };
}

/** Markdown rendering of the comparison. */
function renderTable(direct: TargetResult, daemon: TargetResult, clockTicks: number): string {
  const seconds = (ticks: number): number => ticks / clockTicks;
  const rps = (cell: Cell): number => cell.run.requests / cell.run.seconds;
  const p50Ms = (cell: Cell): number => percentile(cell.run.cyclesUs, 0.5) / 1000;
  const mbps = (cell: Cell): number => cell.run.bytes / MB / cell.run.seconds;
  // In Connection: close runs every request is one connection.
  const perConnectionUs = (ticks: number, cell: Cell): number => (seconds(ticks) * 1e6) / cell.run.requests;
  const perMbMs = (ticks: number, cell: Cell): number => (seconds(ticks) * 1000) / (cell.run.bytes / MB);
  const clientShare = (cell: Cell): number => seconds(cell.run.clientTicks) / (cell.run.seconds * cell.run.threads);

  const number = (value: number, digits: number): string =>
    value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const percent = (value: number): string => `${number(value * 100, 0)} %`;
  const ratio = (a: number, b: number): string => (b === 0 ? '—' : number(a / b, 2));

  const rows: Array<[string, string, string, string]> = [];
  const compare = (label: string, of: (result: TargetResult) => number, format: (value: number) => string): void => {
    const a = of(direct);
    const b = of(daemon);
    rows.push([label, format(a), format(b), ratio(b, a)]);
  };
  const small = `1 KiB, new TLS connection per request, ${SMALL_CONNECTIONS} connections`;
  compare(`${small}: requests/s`, (r) => rps(r.small), (v) => number(v, 0));
  compare('1 KiB, new TLS connection per request, 1 at a time: p50 latency (connect → response)', (r) => p50Ms(r.latency), (v) => `${number(v, 3)} ms`);
  // The tail too: a relay that is often fast but sometimes waits would hide behind its median.
  compare('same, p99 latency', (r) => percentile(r.latency.run.cyclesUs, 0.99) / 1000, (v) => `${number(v, 3)} ms`);
  rows.push(['added latency p50 (daemon − direct)', '—', `+${number(p50Ms(daemon.latency) - p50Ms(direct.latency), 3)} ms`, '—']);
  compare('10 MiB body, keep-alive, 1 connection: MB/s', (r) => mbps(r.large), (v) => number(v, 0));
  rows.push(['daemon CPU per connection (requests/s run)', '—', `${number(perConnectionUs(daemon.small.daemonTicks, daemon.small), 1)} µs`, '—']);
  rows.push(['daemon CPU per MB (10 MiB run)', '—', `${number(perMbMs(daemon.large.daemonTicks, daemon.large), 2)} ms`, '—']);
  compare('nginx CPU per connection (requests/s run)', (r) => perConnectionUs(r.small.nginxTicks, r.small), (v) => `${number(v, 1)} µs`);
  compare('nginx CPU per MB (10 MiB run)', (r) => perMbMs(r.large.nginxTicks, r.large), (v) => `${number(v, 2)} ms`);
  compare(`wrk CPU, share of its ${SMALL_THREADS} thread(s) (requests/s run)`, (r) => clientShare(r.small), percent);
  compare('wrk CPU, share of its 1 thread (10 MiB run)', (r) => clientShare(r.large), percent);

  const header = ['| metric | direct to nginx | through the daemon | daemon/direct |', '| --- | ---: | ---: | ---: |'];
  return [...header, ...rows.map((cells) => `| ${cells.join(' | ')} |`)].join('\n');
}

async function checkPrerequisites(): Promise<void> {
  const missing = ['wrk', ...NGINX_PEERS].filter((name) => which(name) === undefined);
  const problems = missing.map((name) => `${name} is not installed: apt-get install -y ${APT_PACKAGES[name] ?? name}`);
  if (!existsSync(CLI_PATH)) problems.push(`${path.relative(REPO_ROOT, CLI_PATH)} is missing: run \`npm run build\` first`);
  if (problems.length > 0) throw new Error(problems.join('\n'));
}

async function main(cleanup: Cleanup, signal: AbortSignal): Promise<void> {
  await checkPrerequisites();
  // Other work on the machine takes CPU from nginx and the daemon alike; the load average lets a reader judge.
  const loadAtStart = os.loadavg()[0] ?? 0;
  const clockTicks = Number((await execFileAsync('getconf', ['CLK_TCK'])).stdout.trim());
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ar-bench-'));
  cleanup.teardown(() => rm(dir, { recursive: true, force: true }));
  const scripts = { plain: path.join(dir, 'plain.lua'), cycles: path.join(dir, 'cycles.lua') };
  await writeFile(scripts.plain, wrkScript(false));
  await writeFile(scripts.cycles, wrkScript(true));
  const context: Context = { cleanup, signal, scripts };

  const nginx = await startNginx(cleanup.asTest(), { mode: 'https-backend', bodySizes: [SMALL_BODY, LARGE_BODY] });
  const nginxPid = nginx.process.child.pid!;
  signal.throwIfAborted();
  const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir, args: ['--backend', `127.0.0.1:${nginx.port}`] });
  cleanup.teardown(() => daemon.stop());
  signal.throwIfAborted();
  const daemonPort = daemon.listeners[0]?.port;
  if (daemonPort === undefined) throw new Error(`the daemon logged no event=listening\n${daemon.process.output()}`);

  process.stderr.write(`nginx on 127.0.0.1:${nginx.port}, daemon on 127.0.0.1:${daemonPort}; ${WARMUP_SECONDS} s warm-up + ${MEASURE_SECONDS} s per cell\n`);
  const direct = await measureTarget(context, { name: 'direct', port: nginx.port }, nginxPid);
  const throughDaemon = await measureTarget(context, { name: 'daemon', port: daemonPort, daemonPid: daemon.process.child.pid! }, nginxPid);

  // Every connection the daemon took must have been passed on, except those wrk closes before their ClientHello
  // when a run ends (`reason=closed`); any other refusal would make its numbers meaningless.
  const notPassed = daemon
    .logLines()
    .filter((line) => / event=connection( |$)/.test(line) && !/ outcome=passed( |$)/.test(line) && !/ reason=closed( |$)/.test(line));
  if (notPassed.length > 0) throw new Error(`${notPassed.length} connection(s) not passed through, e.g.\n${notPassed.slice(0, 3).join('\n')}`);

  const runs = [direct, throughDaemon].flatMap((result) => [result.small, result.latency, result.large]);
  const socketErrors = runs.reduce((sum, cell) => sum + cell.run.socketErrors, 0);
  // spawnSync rather than execFile: `wrk -v` exits 1 after printing its version, and nginx -v prints to stderr.
  const wrkVersion = spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split(' [')[0];
  const nginxVersion = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '');
  process.stdout.write(`${renderTable(direct, throughDaemon, clockTicks)}\n\n`);
  process.stdout.write(
    `${os.availableParallelism()} CPU(s) ${os.cpus()[0]?.model ?? ''}; ${wrkVersion}; ${nginxVersion}; node ${process.version}; ` +
      `${WARMUP_SECONDS} s warm-up + ${MEASURE_SECONDS} s per cell; loopback only; ` +
      `load average (1 min) ${loadAtStart.toFixed(2)} at start, ${(os.loadavg()[0] ?? 0).toFixed(2)} at end\n`,
  );
  if (socketErrors > 0) process.stdout.write(`warning: wrk counted ${socketErrors} socket error(s) (connect/read/write/timeout)\n`);
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
