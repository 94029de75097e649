/**
 * The passthrough workload shared by `npm run bench:passthrough` (nginx direct vs through the daemon) and
 * `npm run bench` (the same, plus through ualpn): an nginx HTTPS backend, wrk (a compiled client) as the load, and
 * three cells per entry point — 1 KiB with a new TLS connection per request, the same one connection at a time for
 * latency, and a 10 MiB body on one keep-alive connection — each with the CPU of the relay and of nginx over it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CLI_PATH, cleanEnv, REPO_ROOT, spawnManaged, which } from '../test/helpers/daemon.js';
import { NGINX_PEERS, startNginx, type NginxHttpsBackend } from '../test/helpers/nginx.js';
import { cpuSeconds, machineBusySeconds, percentile, processTree, statCpuSeconds, type Cleanup } from './common.js';

/** Concurrent connections of the requests/s cell: enough to keep nginx busy, far below its worker_connections. */
export const SMALL_CONNECTIONS = 16;
/** wrk threads of the requests/s cell: one per core (up to 4), since a single thread doing every handshake would be the bottleneck. */
export const SMALL_THREADS = Math.max(1, Math.min(os.availableParallelism(), 4));
export const SMALL_BODY = 1024;
export const LARGE_BODY = 10 * 1024 * 1024;
/** The decimal megabyte, as network throughput is usually quoted. */
export const MB = 1_000_000;
/** How long past its own duration a wrk run may take before it is killed. */
const WRK_GRACE_MS = 30_000;

/** Debian package of each binary the passthrough cells run. */
const APT_PACKAGES: Record<string, string> = { wrk: 'wrk', nginx: 'nginx', openssl: 'openssl' };

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

export interface WrkRun {
  requests: number;
  bytes: number;
  seconds: number;
  socketErrors: number;
  /** wrk's CPU time, seconds. */
  clientSeconds: number;
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

/** What every wrk run of one bench run shares: where its processes are stopped, its abort signal, the scripts. */
export interface PassthroughContext {
  cleanup: Cleanup;
  signal: AbortSignal;
  scripts: { plain: string; cycles: string };
  /** Warm-up (not measured) and measured seconds of each cell. */
  warmupSeconds: number;
  measureSeconds: number;
}

async function runWrk(context: PassthroughContext, options: WrkOptions): Promise<WrkRun> {
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
    clientSeconds: statCpuSeconds(stat.slice('BENCH stat '.length)),
    threads: options.threads,
    cyclesUs,
  };
}

/** One measured wrk run with the CPU of the relay (0 when direct), of nginx and of the whole machine over it, seconds. */
export interface Cell {
  run: WrkRun;
  relaySeconds: number;
  nginxSeconds: number;
  machineSeconds: number;
}

/** An entry point: nginx itself, or a relay in front of it. */
export interface Target {
  name: string;
  port: number;
  /** The relay's processes (read afresh for each cell, so respawned workers count); none when direct. */
  relayPids?: () => number[];
}

export interface TargetResult {
  /** 1 KiB, new TLS connection per request, {@link SMALL_CONNECTIONS} connections. */
  small: Cell;
  /** The same, one connection at a time, with new-connection cycle times. */
  latency: Cell;
  /** 10 MiB body, one keep-alive connection. */
  large: Cell;
}

/** The three cells against one target, each a warm-up wrk run (not measured) and a measured one. */
export async function measureTarget(context: PassthroughContext, target: Target, nginx: NginxHttpsBackend): Promise<TargetResult> {
  const nginxPid = nginx.process.child.pid ?? 0;
  const cell = async (urlPath: string, options: Omit<WrkOptions, 'url' | 'seconds'>): Promise<Cell> => {
    const url = `https://127.0.0.1:${target.port}${urlPath}`;
    process.stderr.write(`  ${target.name}: ${url} (${options.connections} connection(s)${options.newConnectionPerRequest ? ', new one per request' : ', keep-alive'})\n`);
    // Warm-up, not measured: V8 optimizes the daemon's hot paths and every server reaches its steady state.
    await runWrk(context, { ...options, url, seconds: context.warmupSeconds });
    const relayPids = target.relayPids?.() ?? [];
    const nginxPids = processTree(nginxPid);
    const relayBefore = cpuSeconds(relayPids);
    const nginxBefore = cpuSeconds(nginxPids);
    const machineBefore = machineBusySeconds();
    const run = await runWrk(context, { ...options, url, seconds: context.measureSeconds });
    return {
      run,
      relaySeconds: cpuSeconds(relayPids) - relayBefore,
      nginxSeconds: cpuSeconds(nginxPids) - nginxBefore,
      machineSeconds: machineBusySeconds() - machineBefore,
    };
  };
  const small = `/bytes/${SMALL_BODY}`;
  return {
    small: await cell(small, { threads: SMALL_THREADS, connections: SMALL_CONNECTIONS, newConnectionPerRequest: true, cycles: false }),
    latency: await cell(small, { threads: 1, connections: 1, newConnectionPerRequest: true, cycles: true }),
    large: await cell(`/bytes/${LARGE_BODY}`, { threads: 1, connections: 1, newConnectionPerRequest: false, cycles: false }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Figures of a cell

export const requestsPerSecond = (cell: Cell): number => cell.run.requests / cell.run.seconds;
/** Median new-connection cycle (connect → response), ms. */
export const cycleP50Ms = (cell: Cell): number => percentile(cell.run.cyclesUs, 0.5) / 1000;
export const cycleP99Ms = (cell: Cell): number => percentile(cell.run.cyclesUs, 0.99) / 1000;
export const megabytesPerSecond = (cell: Cell): number => cell.run.bytes / MB / cell.run.seconds;
/** CPU seconds per connection, in µs: in `Connection: close` runs every request is one connection. */
export const perConnectionUs = (cpu: number, cell: Cell): number => (cpu * 1e6) / cell.run.requests;
/** CPU seconds per MB received, in ms. */
export const perMbMs = (cpu: number, cell: Cell): number => (cpu * 1000) / (cell.run.bytes / MB);
/** wrk's CPU time over run time × threads. */
export const clientShare = (cell: Cell): number => cell.run.clientSeconds / (cell.run.seconds * cell.run.threads);
/**
 * Share of all cores taken by everything but wrk, nginx and the relay over the measured runs of `results` (other
 * processes on a shared machine, interrupts): when it is high, the throughput figures are low for reasons of
 * their own.
 */
export function restOfMachineShare(results: readonly TargetResult[]): number {
  const cells = results.flatMap((r) => [r.small, r.latency, r.large]);
  const rest = cells.reduce((sum, c) => sum + Math.max(0, c.machineSeconds - c.relaySeconds - c.nginxSeconds - c.run.clientSeconds), 0);
  const seconds = cells.reduce((sum, c) => sum + c.run.seconds, 0);
  return rest / (seconds * os.availableParallelism());
}

export const socketErrors = (results: readonly TargetResult[]): number =>
  results.flatMap((r) => [r.small, r.latency, r.large]).reduce((sum, cell) => sum + cell.run.socketErrors, 0);

/**
 * True for a `connection` log line of the daemon (level info) that was not passed through. Connections wrk closes
 * before their ClientHello when a run ends (`reason=closed`) are expected; any other refusal would make the
 * passthrough numbers meaningless.
 */
export function notPassedThrough(line: string): boolean {
  return / event=connection( |$)/.test(line) && !/ outcome=passed( |$)/.test(line) && !/ reason=closed( |$)/.test(line);
}

// ---------------------------------------------------------------------------------------------------------------
// Setup

/** Throws with the apt-get line for every missing tool (and when dist/ is not built). */
export function checkPassthroughPrerequisites(): void {
  const missing = ['wrk', ...NGINX_PEERS].filter((name) => which(name) === undefined);
  const problems = missing.map((name) => `${name} is not installed: apt-get install -y ${APT_PACKAGES[name] ?? name}`);
  if (!existsSync(CLI_PATH)) problems.push(`${path.relative(REPO_ROOT, CLI_PATH)} is missing: run \`npm run build\` first`);
  if (problems.length > 0) throw new Error(problems.join('\n'));
}

/**
 * Starts the nginx HTTPS backend (temp prefix, self-signed certificate, one worker, `/bytes/1024` and
 * `/bytes/10485760`) and writes the wrk scripts; both are removed by `cleanup`.
 */
export async function startPassthroughBackend(
  cleanup: Cleanup,
  signal: AbortSignal,
  timing: { warmupSeconds: number; measureSeconds: number },
): Promise<{ nginx: NginxHttpsBackend; context: PassthroughContext }> {
  checkPassthroughPrerequisites();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ar-bench-wrk-'));
  // Synchronous, so that Cleanup.runNow() (a signal) removes it too.
  cleanup.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const scripts = { plain: path.join(dir, 'plain.lua'), cycles: path.join(dir, 'cycles.lua') };
  await writeFile(scripts.plain, wrkScript(false));
  await writeFile(scripts.cycles, wrkScript(true));
  const nginx = await startNginx(cleanup.asTest(), { mode: 'https-backend', bodySizes: [SMALL_BODY, LARGE_BODY] });
  signal.throwIfAborted();
  return { nginx, context: { cleanup, signal, scripts, ...timing } };
}

/** `wrk 4.1.0; nginx/1.22.1`, for the line under a table. */
export function passthroughToolVersions(): string {
  // spawnSync rather than execFile: `wrk -v` exits 1 after printing its version, and nginx -v prints to stderr.
  const wrkVersion = spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split(' [')[0]?.trim();
  const nginxVersion = spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().replace('nginx version: ', '');
  return `${wrkVersion ?? 'wrk ?'}; ${nginxVersion}`;
}
