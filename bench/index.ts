/**
 * Head-to-head benchmark against ualpn (Debian package uacme): both TLS-ALPN-01 responders on loopback, fed the
 * same challenges and the same load (handshakes, multi-worker handshakes, deploys, passthrough to nginx, start-up,
 * memory), printed as one Markdown table with each figure also as a ratio to ualpn. Run with `npm run bench`;
 * docs/performance.md says what each row means, bench/README.md how the script works.
 *
 * Every process started here (our daemon and its workers, ualpn and its workers, the load clients, nginx, wrk) is
 * tracked by pid or process group and killed when the run ends, fails or is interrupted.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseIdentifier } from '../src/challenge/identifier.js';
import { checkChallengeCertificate } from '../src/diagnostics/verify.js';
import { sendCommands } from '../src/control/client.js';
import { freePort, waitUntil } from '../test/helpers/daemon.js';
import type { NginxHttpsBackend } from '../test/helpers/nginx.js';
import { Cleanup, cpuSeconds, fmt, handshake, loadAverage, machine, machineBusySeconds, percentile, processTree, ratio, rssBytes } from './common.js';
import type { ClientReply, ClientRequest } from './handshake-client.js';
import {
  clientShare,
  cycleP50Ms,
  LARGE_BODY,
  measureTarget,
  megabytesPerSecond,
  passthroughToolVersions,
  perConnectionUs,
  perMbMs,
  requestsPerSecond,
  restOfMachineShare,
  SMALL_BODY,
  SMALL_CONNECTIONS,
  SMALL_THREADS,
  socketErrors,
  startPassthroughBackend,
  type PassthroughContext,
  type Target,
  type TargetResult,
} from './passthrough-cells.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI_PATH = path.join(REPO_ROOT, 'dist', 'cli.js');
const CLIENT_PATH = path.join(REPO_ROOT, 'bench', 'handshake-client.ts');
const UALPN = '/usr/bin/ualpn';

/** Per handshake cell: warm-up (not measured), then the measured window. */
const WARMUP_MS = 500;
const MEASURE_MS = 2000;
/** Clients of the unmeasured cells that warm up each fresh server of the handshake rows. */
const WARM_UP_CONCURRENCY = 32;
/**
 * A pair of handshake cells (ours, ualpn) is measured again, at most CONTENDED_RETRIES more times, when the rest of
 * the machine (other processes on a shared host) took more than CONTENDED_SHARE of the cores in either of them; the
 * least contended pair is kept. A passthrough target (its three wrk cells) gets one more try. Retries stop once they
 * have taken RETRY_BUDGET_MS in all, which bounds the run time on a busy machine.
 */
const CONTENDED_SHARE = 0.1;
const CONTENDED_RETRIES = 2;
const RETRY_BUDGET_MS = 120_000;
const CONCURRENCIES = [1, 32, 256] as const;
const NAME_COUNTS = [4, 1000] as const;
const VERSIONS = ['TLSv1.3', 'TLSv1.2'] as const;
/** Load-client processes at most (a cell with fewer clients uses one process per client). */
const MAX_CLIENT_PROCESSES = Math.max(2, Math.min(4, 2 * os.availableParallelism()));
const SINGLE_DEPLOYS = 200;
const BURST_DEPLOYS = 1000;
/** Deploy commands in flight during the burst, each on its own control connection (ualpn takes one per connection). */
const BURST_IN_FLIGHT = 32;
const STARTUP_RUNS = 3;
const IDLE_CONNECTIONS = 10_000;
/** Raised limits of our daemon for the idle-connection row (defaults: 4096, 64 per source, 10 s hello timeout). */
const MANY_CONNECTION_FLAGS = ['--max-connections', '20000', '--max-connections-per-source', '20000', '--hello-timeout', '120'];
/**
 * ualpn for the idle-connection row: each worker takes about 4,000 connections at most ("all workers busy" past
 * that, not configurable), so 10,000 need three workers.
 */
const UALPN_MANY_CONNECTION_FLAGS = ['-n', '3'];
/**
 * Our defaults of 64 connections per source, and 20 handshakes a second per source (burst 200), would refuse most of
 * the load, all from 127.0.0.1.
 */
const HANDSHAKE_FLAGS = ['--max-connections-per-source', '1024', '--handshake-rate', '1000000', '--handshake-burst', '1000000'];
/** The multi-worker rows: ours with `--workers 2` against `ualpn -n 2`, TLS 1.3, 4 names, at these concurrencies. */
const WORKERS = 2;
const WORKER_CONCURRENCIES = [32, 256] as const;
/** Per passthrough cell (wrk): warm-up (not measured), then the measured run, as in bench:passthrough. */
const PASSTHROUGH_WARMUP_SECONDS = 1;
const PASSTHROUGH_MEASURE_SECONDS = 5;
/** No row may wait on a peer longer than this. */
const STEP_TIMEOUT_MS = 60_000;

type Version = (typeof VERSIONS)[number];
type ServerKind = 'ours' | 'ualpn';
const SERVER_KINDS: readonly ServerKind[] = ['ours', 'ualpn'];

// ---------------------------------------------------------------------------------------------------------------
// Cleanup: synchronous, by pid, so it also runs from 'exit' and from a signal handler.

const tracked = new Set<ChildProcess>();
const extraPids = new Set<number>();
const tempDirs = new Set<string>();
/** nginx and wrk (process groups of the test helpers): awaited at the end of main, signalled at once on exit. */
const peers = new Cleanup();

function killTracked(): void {
  peers.runNow();
  for (const child of tracked) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const pid of extraPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}
process.on('exit', killTracked);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping the servers and the load clients\n`);
    killTracked();
    process.exit(128 + os.constants.signals[signal]);
  });
}

function track(child: ChildProcess): ChildProcess {
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  return child;
}

async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------------------------
// /proc

function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s{2,}/)[1] ?? 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function digestOf(name: string): Buffer {
  return createHash('sha256').update(`${name}.bench-key-authorization`).digest();
}

function b64(name: string): string {
  return digestOf(name).toString('base64url');
}

async function withTimeout<T>(what: string, promise: Promise<T>, ms = STEP_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The two servers

interface Server {
  readonly kind: ServerKind;
  readonly port: number;
  readonly child: ChildProcess;
  /** The server's processes (ualpn: the master and its workers; ours: the daemon and its workers, if any). */
  pids(): number[];
  /** Deploys (ours: `deploy`, ualpn: `auth`) on a control connection of its own; rejects unless the answer is OK. */
  deploy(name: string): Promise<void>;
  clean(name: string): Promise<void>;
  output(): string;
  /** Lines the server wrote to stdout/stderr (run at warn level / without -v: warnings and errors), and the first. */
  logged(): { count: number; first?: string };
}

/** The dummy backend both servers pass other connections to (accepts and closes), unless a row sets its own. */
let dummyBackendPort = 0;

/**
 * Whether this build's `serve` has `--workers` (read from `serve --help` at the start of the run). With it, every
 * row but the multi-worker ones passes `--workers 1`, so that one process of ours meets one ualpn worker (`-n 1`);
 * without it (an older build: one process, and the flag would be refused) the multi-worker rows are not measured.
 */
let workersFlag = false;

function hasWorkersFlag(): boolean {
  const help = spawnSync(process.execPath, [CLI_PATH, 'serve', '--help'], { encoding: 'utf8' });
  return /\s--workers\b/.test(help.stdout);
}

interface ServerOptions {
  /** Extra flags; a `--workers` (ours) or `-n` (ualpn) here replaces the default of one worker. */
  flags?: readonly string[];
  /** Where non-`acme-tls/1` connections go; the dummy backend by default. */
  backendPort?: number;
}

/** One line to ualpn's control socket, which answers one command per connection. */
function ualpnCommand(socketPath: string, line: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = net.connect(socketPath);
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`ualpn: no answer to ${line.split(' ')[0]} within ${timeoutMs} ms`));
    });
    socket.once('connect', () => socket.write(`${line}\n`));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString();
      if (answer.includes('\n')) {
        socket.destroy();
        resolve(answer.trim());
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`ualpn closed the control connection: ${JSON.stringify(answer)}`)));
  });
}

function spawnServer(kind: ServerKind, dir: string, port: number, options: ServerOptions): Server {
  const extraFlags = options.flags ?? [];
  const backendPort = options.backendPort ?? dummyBackendPort;
  let output = '';
  let loggedLines = 0;
  let firstLine: string | undefined;
  const control = path.join(dir, kind === 'ours' ? 'c.sock' : 'u.sock');
  const child =
    kind === 'ours'
      ? spawn(
          process.execPath,
          [
            CLI_PATH, 'serve', '--listen', `127.0.0.1:${port}`, '--control', control, '--log-level', 'warn', '--backend', `127.0.0.1:${backendPort}`,
            ...(workersFlag && !extraFlags.includes('--workers') ? ['--workers', '1'] : []),
            ...extraFlags,
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        )
      : spawn(
          UALPN,
          ['-b', `127.0.0.1@${port}`, '-c', `127.0.0.1@${backendPort}`, ...(extraFlags.includes('-n') ? [] : ['-n', '1']), '-m', '2000', '-s', control, '-p', path.join(dir, 'u.pid'), ...extraFlags],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
  track(child);
  /** Counts the complete lines of one stream (ualpn writes a line in several pieces). */
  const lineCounter = (): ((chunk: Buffer) => void) => {
    let partial = '';
    return (chunk) => {
      const text = chunk.toString();
      if (output.length < 64 * 1024) output += text;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        loggedLines++;
        firstLine ??= line.trim();
      }
    };
  };
  const logged = (): { count: number; first?: string } => ({ count: loggedLines, first: firstLine });
  child.stdout?.on('data', lineCounter());
  child.stderr?.on('data', lineCounter());
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${kind} did not start`);
  const pids = (): number[] => {
    const tree = processTree(pid);
    for (const p of tree) if (p !== pid) extraPids.add(p);
    return tree;
  };
  const expectOk = (what: string, answer: string): void => {
    if (!answer.startsWith('OK')) throw new Error(`${kind} ${what}: ${answer}`);
  };
  if (kind === 'ours') {
    const command = async (line: string): Promise<void> => {
      const [reply] = await sendCommands(control, [line], 10_000);
      expectOk(line.split(' ')[0] ?? '', reply?.final.ok ? `OK ${reply.final.text}` : JSON.stringify(reply?.final));
    };
    return {
      kind, port, child, pids, logged, output: () => output,
      deploy: (name) => command(`deploy ${name} ${b64(name)}`),
      clean: (name) => command(`clean ${name}`),
    };
  }
  return {
    kind, port, child, pids, logged, output: () => output,
    deploy: async (name) => expectOk('auth', await ualpnCommand(control, `auth ${name} ${b64(name)}`)),
    clean: async (name) => expectOk('unauth', await ualpnCommand(control, `unauth ${name}`)),
  };
}

async function stopServer(server: Server): Promise<void> {
  const workers = server.pids().filter((pid) => pid !== server.child.pid);
  await stopChild(server.child);
  for (const pid of workers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited with its master
    }
    extraPids.delete(pid);
  }
}

/** Retries `attempt` every 2 ms until it resolves truthy; rejects when the server exits or after `timeoutMs`. */
async function until<T>(server: Server, what: string, attempt: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      throw new Error(`${server.kind} exited (${server.child.exitCode ?? server.child.signalCode}) while waiting for ${what}\n${server.output()}`);
    }
    const result = await attempt().catch(() => undefined);
    if (result !== undefined && result !== null && result !== false) return result;
    await sleep(2);
  }
  throw new Error(`${server.kind}: ${what} not reached within ${timeoutMs} ms\n${server.output()}`);
}

/**
 * Spawns a server and returns it with the time from spawn to its first served `acme-tls/1` handshake: a deploy is
 * retried until the control socket answers OK, then a handshake until it succeeds.
 */
async function startServer(kind: ServerKind, options: ServerOptions = {}): Promise<{ server: Server; startupMs: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `ar-bench-${kind}-`));
  tempDirs.add(dir);
  const port = await freePort();
  const started = performance.now();
  const server = spawnServer(kind, dir, port, options);
  const first = 'startup.bench.test';
  await until(server, 'the first deploy', async () => {
    await server.deploy(first);
    return true;
  });
  await until(server, 'the first handshake', () => handshake(port, first));
  const startupMs = performance.now() - started;
  await server.clean(first);
  return { server, startupMs };
}

/**
 * Checks `rounds` handshakes per TLS version the way the CA would (several when the server has several workers, so
 * that each is likely to answer one); returns a description of the certificate served.
 */
async function verifyServer(server: Server, name: string, rounds = 1): Promise<string> {
  let description = '';
  for (const version of Array.from({ length: rounds }, () => VERSIONS).flat()) {
    const cert = await handshake(server.port, name, version);
    if (cert === undefined) throw new Error(`${server.kind}: no ${version} acme-tls/1 handshake for ${name}`);
    const check = await checkChallengeCertificate(new Uint8Array(cert.raw), parseIdentifier(name), new Uint8Array(digestOf(name)));
    if (!check.ok) throw new Error(`${server.kind} (${version}) serves a certificate the CA would refuse: ${check.problem} ${check.detail ?? ''}`);
    const key = new X509Certificate(cert.raw).publicKey;
    const details = key.asymmetricKeyDetails;
    description = `${key.asymmetricKeyType ?? '?'} ${details?.namedCurve ?? (details?.modulusLength ? `${details.modulusLength} bits` : '')}`.trim();
  }
  return description;
}

// ---------------------------------------------------------------------------------------------------------------
// Load clients

interface Client {
  readonly child: ChildProcess;
  request<T extends ClientReply['type']>(message: ClientRequest, replyType: T, timeoutMs?: number): Promise<Extract<ClientReply, { type: T }>>;
}

async function startClients(count: number): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < count; i++) {
    const child = track(
      fork(CLIENT_PATH, [], { execArgv: ['--import', '@tapjs/typescript/import'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], cwd: REPO_ROOT }),
    );
    const waiting = new Map<string, (reply: ClientReply) => void>();
    child.on('message', (reply: ClientReply) => {
      const resolve = waiting.get(reply.type);
      waiting.delete(reply.type);
      resolve?.(reply);
    });
    const request = <T extends ClientReply['type']>(message: ClientRequest | undefined, replyType: T, timeoutMs = STEP_TIMEOUT_MS) =>
      withTimeout(
        `load client ${replyType}`,
        new Promise<Extract<ClientReply, { type: T }>>((resolve) => {
          waiting.set(replyType, resolve as (reply: ClientReply) => void);
          if (message !== undefined) child.send(message);
        }),
        timeoutMs,
      );
    clients.push({ child, request });
    await request(undefined, 'ready', 30_000);
  }
  return clients;
}

/** Splits `total` as evenly as possible over `parts`. */
function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

interface Cell {
  handshakes: number;
  failures: number;
  firstError?: string;
  seconds: number;
  serverCpu: number;
  clientCpu: number;
  /** CPU seconds the whole machine was busy over the window (all cores). */
  machineCpu: number;
  latenciesMs: number[];
}

/** Share of all cores that everything but the server and the clients took over a cell's window. */
function restShare(cell: Cell): number {
  return Math.max(0, cell.machineCpu - cell.serverCpu - cell.clientCpu) / cell.seconds / os.availableParallelism();
}

/** Measurements repeated because of contention (see {@link CONTENDED_SHARE}), those still contended, time spent. */
const contention = { retried: 0, kept: 0, spentMs: 0 };
const mayRetry = (): boolean => contention.spentMs < RETRY_BUDGET_MS;

/** The same cell against each server, measured again while the machine is contended (see {@link CONTENDED_SHARE}). */
async function measurePair(
  clients: Client[],
  servers: Record<ServerKind, Server>,
  names: readonly string[],
  concurrency: number,
  version: Version,
): Promise<Record<ServerKind, Cell>> {
  let best: { pair: Record<ServerKind, Cell>; rest: number } | undefined;
  for (let attempt = 0; attempt <= CONTENDED_RETRIES && (attempt === 0 || mayRetry()); attempt++) {
    const started = performance.now();
    const pair = {} as Record<ServerKind, Cell>;
    for (const kind of SERVER_KINDS) pair[kind] = await handshakeCell(clients, servers[kind], names, concurrency, version);
    if (attempt > 0) {
      contention.retried++;
      contention.spentMs += performance.now() - started;
    }
    const rest = Math.max(...SERVER_KINDS.map((kind) => restShare(pair[kind])));
    if (best === undefined || rest < best.rest) best = { pair, rest };
    if (rest <= CONTENDED_SHARE) break;
  }
  if (best === undefined) throw new Error('no cell measured');
  if (best.rest > CONTENDED_SHARE) contention.kept++;
  return best.pair;
}

/**
 * One unmeasured cell per TLS version at {@link WARM_UP_CONCURRENCY} clients on a fresh server, so that its first
 * measured cell does not include V8 optimizing our hot paths (or any other server's first-use costs).
 */
async function warmUp(clients: Client[], server: Server, names: readonly string[], versions: readonly Version[]): Promise<void> {
  for (const version of versions) await handshakeCell(clients, server, names, WARM_UP_CONCURRENCY, version);
}

async function handshakeCell(clients: Client[], server: Server, names: readonly string[], concurrency: number, version: Version): Promise<Cell> {
  const used = clients.slice(0, Math.min(concurrency, clients.length));
  const shares = split(concurrency, used.length);
  await Promise.all(used.map((c, i) => c.request({ type: 'load', port: server.port, names, concurrency: shares[i] ?? 0, version }, 'loading')));
  await sleep(WARMUP_MS);
  const pids = server.pids();
  const cpuBefore = cpuSeconds(pids);
  const machineBefore = machineBusySeconds();
  const started = performance.now();
  await Promise.all(used.map((c) => c.request({ type: 'measure' }, 'measuring')));
  await sleep(MEASURE_MS);
  const cpuAfter = cpuSeconds(pids);
  const machineCpu = machineBusySeconds() - machineBefore;
  const seconds = (performance.now() - started) / 1000;
  const results = await Promise.all(used.map((c) => c.request({ type: 'stop' }, 'stopped')));
  return {
    handshakes: results.reduce((sum, r) => sum + r.handshakes, 0),
    failures: results.reduce((sum, r) => sum + r.failures, 0),
    firstError: results.find((r) => r.firstError !== undefined)?.firstError,
    seconds,
    serverCpu: cpuAfter - cpuBefore,
    clientCpu: results.reduce((sum, r) => sum + r.cpuUs, 0) / 1e6,
    machineCpu,
    latenciesMs: results.flatMap((r) => r.latenciesMs),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Multi-worker rows

interface WorkerResult {
  cells: Map<number, Record<ServerKind, Cell>>;
  /** Processes of each server (ours: the daemon and its workers; ualpn: master and workers). */
  processes: Record<ServerKind, number>;
}

/** Handshake cells against fresh servers with {@link WORKERS} workers each, TLS 1.3, over `names`. */
async function measureWorkers(clients: Client[], names: readonly string[], log: (message: string) => void): Promise<WorkerResult> {
  const cells = new Map<number, Record<ServerKind, Cell>>();
  const processes = {} as Record<ServerKind, number>;
  const servers: Partial<Record<ServerKind, Server>> = {};
  try {
    for (const kind of SERVER_KINDS) {
      const flags = kind === 'ours' ? ['--workers', String(WORKERS), ...HANDSHAKE_FLAGS] : ['-n', String(WORKERS)];
      const server = (await startServer(kind, { flags })).server;
      servers[kind] = server;
      // Every worker up (the primary or master and WORKERS workers) before the warm-up starts, then several rounds
      // of checks, so that each worker is likely to have answered (and proven its certificate) once.
      await waitUntil('every worker up', () => (server.pids().length > WORKERS ? true : undefined), 15_000);
      for (const name of names) await server.deploy(name);
      await verifyServer(server, names[0] ?? '', 4 * WORKERS);
      await warmUp(clients, server, names, ['TLSv1.3']);
      processes[kind] = server.pids().length;
    }
    for (const concurrency of WORKER_CONCURRENCIES) {
      const pair = await measurePair(clients, servers as Record<ServerKind, Server>, names, concurrency, 'TLSv1.3');
      cells.set(concurrency, pair);
      log(`${WORKERS} workers each, TLSv1.3, ${names.length} names, ${concurrency} clients: ${SERVER_KINDS.map((k) => `${k} ${fmt(pair[k].handshakes / pair[k].seconds, 0)}/s`).join(', ')}`);
    }
  } finally {
    for (const server of Object.values(servers)) await stopServer(server);
  }
  return { cells, processes };
}

// ---------------------------------------------------------------------------------------------------------------
// Deploy rows

interface DeployResult {
  singleMs: number[];
  burstOkMs: number;
  burstServedMs: number;
  /** Handshakes attempted right after OK that failed and had to be retried. */
  notServedAtOk: number;
}

async function measureDeploys(server: Server, burstNames: readonly string[]): Promise<DeployResult> {
  const singleMs: number[] = [];
  const singles = Array.from({ length: SINGLE_DEPLOYS }, (_, i) => `single-${i}.bench.test`);
  for (const name of singles) {
    const started = performance.now();
    await server.deploy(name);
    singleMs.push(performance.now() - started);
  }
  for (const name of singles) await server.clean(name);

  // The burst: BURST_IN_FLIGHT deploys at a time; a name is checked with a handshake as soon as it is OK (retried
  // every 2 ms until it is served), and the row ends when every name has been served.
  let next = 0;
  let okAt = 0;
  let notServedAtOk = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    for (let i = next++; i < burstNames.length; i = next++) {
      const name = burstNames[i] ?? '';
      await server.deploy(name);
      okAt = Math.max(okAt, performance.now());
      for (let attempt = 0; ; attempt++) {
        if (await handshake(server.port, name)) break;
        if (attempt === 0) notServedAtOk++;
        if (attempt > 1000) throw new Error(`${server.kind}: ${name} deployed but never served`);
        await sleep(2);
      }
    }
  };
  await withTimeout(`${server.kind} burst deploy`, Promise.all(Array.from({ length: BURST_IN_FLIGHT }, lane)));
  return { singleMs, burstOkMs: okAt - started, burstServedMs: performance.now() - started, notServedAtOk };
}

// ---------------------------------------------------------------------------------------------------------------
// Idle connections

interface IdleResult {
  rssBefore: number;
  rssAfter: number;
  opened: number;
  stillOpen: number;
}

async function measureIdleConnections(clients: Client[], server: Server): Promise<IdleResult> {
  const pids = server.pids();
  await sleep(500);
  const rssBefore = rssBytes(pids);
  const shares = split(IDLE_CONNECTIONS, clients.length);
  const held = await Promise.all(clients.map((c, i) => c.request({ type: 'hold', port: server.port, count: shares[i] ?? 0 }, 'held')));
  // Let the server accept and settle everything before reading its memory.
  await sleep(1500);
  const rssAfter = rssBytes(server.pids());
  const counted = await Promise.all(clients.map((c) => c.request({ type: 'count' }, 'counted')));
  await Promise.all(clients.map((c) => c.request({ type: 'release' }, 'released')));
  return {
    rssBefore,
    rssAfter,
    opened: held.reduce((sum, h) => sum + h.open, 0),
    stillOpen: counted.reduce((sum, c) => sum + c.open, 0),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Table

const mib = (bytes: number): string => `${fmt(bytes / 1024 / 1024, 1)} MiB`;

type Row = [label: string, ours: string, ualpn: string, ratio: string];
const rows: Row[] = [];
const notes: string[] = [];

function compare(label: string, values: Record<ServerKind, number>, format: (v: number) => string): void {
  rows.push([label, format(values.ours), format(values.ualpn), ratio(values.ours, values.ualpn)]);
}

function notMeasured(label: string, reason: string): void {
  rows.push([label, 'not measured', 'not measured', `— (${reason})`]);
}

function printTable(): void {
  const lines = ['| metric | alpn-responder | ualpn | alpn-responder / ualpn |', '| --- | ---: | ---: | ---: |'];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  process.stdout.write(`${lines.join('\n')}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// Passthrough (the cells themselves are in passthrough-cells.ts, shared with bench:passthrough)

interface PassthroughResults {
  direct: TargetResult;
  servers: Record<ServerKind, TargetResult>;
  logged: Record<ServerKind, { count: number; first?: string }>;
}

/**
 * ualpn sends a PROXY v1 header to its backend unless told otherwise; ours sends none by default. Both relay the
 * bytes as they are, so that the same nginx (no proxy_protocol) takes them.
 */
const UALPN_PASSTHROUGH_FLAGS = ['-P', '0'];

/** measureTarget, once more if the machine was contended (see {@link CONTENDED_SHARE}); the less contended result. */
async function measureTargetUncontended(context: PassthroughContext, target: Target, nginx: NginxHttpsBackend): Promise<TargetResult> {
  const first = await measureTarget(context, target, nginx);
  if (restOfMachineShare([first]) <= CONTENDED_SHARE || !mayRetry()) {
    if (restOfMachineShare([first]) > CONTENDED_SHARE) contention.kept++;
    return first;
  }
  const started = performance.now();
  const second = await measureTarget(context, target, nginx);
  contention.retried++;
  contention.spentMs += performance.now() - started;
  const best = restOfMachineShare([second]) < restOfMachineShare([first]) ? second : first;
  if (restOfMachineShare([best]) > CONTENDED_SHARE) contention.kept++;
  return best;
}

/** The three wrk cells direct to nginx, then through a fresh server of each kind pointed at nginx. */
async function measurePassthrough(context: PassthroughContext, nginx: NginxHttpsBackend): Promise<PassthroughResults> {
  const direct = await measureTargetUncontended(context, { name: 'direct', port: nginx.port }, nginx);
  const servers = {} as Record<ServerKind, TargetResult>;
  const logged = {} as Record<ServerKind, { count: number; first?: string }>;
  for (const kind of SERVER_KINDS) {
    const { server } = await startServer(kind, { backendPort: nginx.port, flags: kind === 'ualpn' ? UALPN_PASSTHROUGH_FLAGS : [] });
    try {
      servers[kind] = await measureTargetUncontended(context, { name: kind, port: server.port, relayPids: () => server.pids() }, nginx);
      logged[kind] = server.logged();
    } finally {
      await stopServer(server);
    }
  }
  return { direct, servers, logged };
}

function passthroughRows({ direct, servers }: PassthroughResults): void {
  const both = (f: (result: TargetResult) => number): Record<ServerKind, number> => ({ ours: f(servers.ours), ualpn: f(servers.ualpn) });
  const small = `passthrough to nginx, ${fmt(SMALL_BODY / 1024, 0)} KiB, new TLS connection per request, ${SMALL_CONNECTIONS} connections`;
  compare(`${small}: requests/s (direct: ${fmt(requestsPerSecond(direct.small), 0)})`, both((r) => requestsPerSecond(r.small)), (v) => fmt(v, 0));
  compare('same: server CPU per connection', both((r) => perConnectionUs(r.small.relaySeconds, r.small)), (v) => `${fmt(v, 1)} µs`);
  const signed = (ms: number): string => `${ms < 0 ? '−' : '+'}${fmt(Math.abs(ms), 3)} ms`;
  compare(
    `same, 1 connection at a time: added latency p50 over direct (connect → response; direct: ${fmt(cycleP50Ms(direct.latency), 3)} ms)`,
    both((r) => cycleP50Ms(r.latency) - cycleP50Ms(direct.latency)),
    signed,
  );
  const large = `passthrough to nginx, ${fmt(LARGE_BODY / 1024 / 1024, 0)} MiB body, keep-alive, 1 connection`;
  compare(`${large}: MB/s (direct: ${fmt(megabytesPerSecond(direct.large), 0)})`, both((r) => megabytesPerSecond(r.large)), (v) => fmt(v, 0));
  compare('same: server CPU per MB', both((r) => perMbMs(r.large.relaySeconds, r.large)), (v) => `${fmt(v, 2)} ms`);
  const shares = (r: TargetResult): string => `${fmt(clientShare(r.small) * 100, 0)} % / ${fmt(clientShare(r.large) * 100, 0)} %`;
  rows.push([
    `passthrough: wrk CPU, share of its threads, 1 KiB run (${SMALL_THREADS}) / 10 MiB run (1) (direct: ${shares(direct)})`,
    shares(servers.ours),
    shares(servers.ualpn),
    '—',
  ]);
}

function passthroughNote({ direct, servers, logged }: PassthroughResults): string {
  const nginxUs = (r: TargetResult): string => fmt(perConnectionUs(r.small.nginxSeconds, r.small), 0);
  const errors = socketErrors([direct, servers.ours, servers.ualpn]);
  const lines = SERVER_KINDS.filter((k) => logged[k].count > 0).map((k) => `${k} logged ${logged[k].count} line(s), the first: \`${logged[k].first ?? ''}\``);
  return (
    `Passthrough cells: ${passthroughToolVersions()} (one worker, self-signed P-256); each cell ${PASSTHROUGH_WARMUP_SECONDS} s wrk warm-up + ${PASSTHROUGH_MEASURE_SECONDS} s measured; fresh servers, ours with --backend 127.0.0.1:<nginx>, ualpn with -c 127.0.0.1@<nginx> ${UALPN_PASSTHROUGH_FLAGS.join(' ')} (no PROXY header, as ours by default); ` +
    `latency = time between responses of one wrk connection with Connection: close (TCP connect + TLS handshake + request + response). ` +
    `nginx's own CPU per connection: ${nginxUs(direct)} µs direct, ${nginxUs(servers.ours)} µs behind ours, ${nginxUs(servers.ualpn)} µs behind ualpn. ` +
    `Rest of the machine (other processes, interrupts) over the measured runs, share of the cores: ` +
    `${[['direct', direct] as const, ['ours', servers.ours] as const, ['ualpn', servers.ualpn] as const].map(([name, r]) => `${name} ${fmt(restOfMachineShare([r]) * 100, 0)} %`).join(', ')}. ` +
    `wrk socket errors: ${errors}.${lines.length > 0 ? ` ${lines.join('; ')}.` : ''}`
  );
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!existsSync(CLI_PATH)) throw new Error('dist/cli.js is missing: run `npm run build` first (npm run bench does)');
  if (!existsSync(UALPN)) throw new Error(`${UALPN} is missing: apt-get install -y uacme`);
  const loadAtStart = loadAverage();
  const runStarted = performance.now();
  workersFlag = hasWorkersFlag();
  const backend = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const backendAddress = backend.address();
  dummyBackendPort = typeof backendAddress === 'object' && backendAddress !== null ? backendAddress.port : 0;
  const clients = await startClients(MAX_CLIENT_PROCESSES);
  const log = (message: string): void => void process.stderr.write(`[${((performance.now() - runStarted) / 1000).toFixed(0)} s] ${message}\n`);

  // Start-up: spawn → first served handshake, a few fresh spawns of each.
  // The last of these fresh servers also gives the memory rows: RSS idle, then with 1,000 challenges.
  const startup: Record<ServerKind, number[]> = { ours: [], ualpn: [] };
  const rssIdle = {} as Record<ServerKind, number>;
  const rssLoaded = {} as Record<ServerKind, number>;
  const burstNames = Array.from({ length: BURST_DEPLOYS }, (_, i) => `name-${i}.bench.test`);
  for (let run = 0; run < STARTUP_RUNS; run++) {
    for (const kind of SERVER_KINDS) {
      const { server, startupMs } = await startServer(kind);
      try {
        startup[kind].push(startupMs);
        if (run === STARTUP_RUNS - 1) {
          await sleep(500);
          rssIdle[kind] = rssBytes(server.pids());
          let next = 0;
          const lane = async (): Promise<void> => {
            for (let i = next++; i < burstNames.length; i = next++) await server.deploy(burstNames[i] ?? '');
          };
          await withTimeout(`${kind} deploys`, Promise.all(Array.from({ length: BURST_IN_FLIGHT }, lane)));
          await sleep(500);
          rssLoaded[kind] = rssBytes(server.pids());
        }
      } finally {
        await stopServer(server);
      }
    }
  }
  log(`start-up: ours ${startup.ours.map((v) => v.toFixed(0)).join(', ')} ms; ualpn ${startup.ualpn.map((v) => v.toFixed(0)).join(', ')} ms`);

  // The servers of the handshake and deploy rows.
  const servers = {} as Record<ServerKind, Server>;
  for (const kind of SERVER_KINDS) servers[kind] = (await startServer(kind, { flags: kind === 'ours' ? HANDSHAKE_FLAGS : [] })).server;

  const cells = new Map<string, Record<ServerKind, Cell>>();
  const keyType: Partial<Record<ServerKind, string>> = {};
  const deploys = {} as Record<ServerKind, DeployResult>;
  const fourNames = Array.from({ length: 4 }, (_, i) => `four-${i}.bench.test`);
  for (const count of NAME_COUNTS) {
    let names: readonly string[];
    if (count === 4) {
      for (const kind of SERVER_KINDS) for (const name of fourNames) await servers[kind].deploy(name);
      names = fourNames;
    } else {
      // Deploy rows: 200 one at a time (then cleaned), then the 1,000 names of the 1,000-name cells as a burst.
      for (const kind of SERVER_KINDS) {
        for (const name of fourNames) await servers[kind].clean(name);
        deploys[kind] = await measureDeploys(servers[kind], burstNames);
      }
      log('deploy rows done');
      names = burstNames;
    }
    for (const kind of SERVER_KINDS) keyType[kind] = await verifyServer(servers[kind], names[0] ?? '');
    if (count === NAME_COUNTS[0]) for (const kind of SERVER_KINDS) await warmUp(clients, servers[kind], names, VERSIONS);
    for (const version of VERSIONS) {
      for (const concurrency of CONCURRENCIES) {
        const pair = await measurePair(clients, servers, names, concurrency, version);
        cells.set(`${version}|${count}|${concurrency}`, pair);
        log(`${version}, ${count} names, ${concurrency} client(s): ${SERVER_KINDS.map((k) => `${k} ${fmt(pair[k].handshakes / pair[k].seconds, 0)}/s`).join(', ')}`);
      }
    }
  }
  const logs = { ours: servers.ours.logged(), ualpn: servers.ualpn.logged() };
  for (const kind of SERVER_KINDS) await stopServer(servers[kind]);

  // Idle connections, on fresh servers with the connection limits raised.
  let idle: Record<ServerKind, IdleResult> | undefined;
  let idleSkipped: string | undefined;
  const limit = openFileLimit();
  if (limit < IDLE_CONNECTIONS + 1000) {
    idleSkipped = `open-file limit ${limit} < ${IDLE_CONNECTIONS + 1000}`;
  } else {
    idle = {} as Record<ServerKind, IdleResult>;
    for (const kind of SERVER_KINDS) {
      const { server } = await startServer(kind, { flags: kind === 'ours' ? MANY_CONNECTION_FLAGS : UALPN_MANY_CONNECTION_FLAGS });
      try {
        idle[kind] = await measureIdleConnections(clients, server);
      } finally {
        await stopServer(server);
      }
    }
    log('idle-connection rows done');
  }

  // Multi-worker handshakes, on fresh servers: ours with --workers 2 against ualpn -n 2. A failure here (the flag is
  // new) is reported in the table rather than losing the whole run.
  let workers: WorkerResult | undefined;
  let workersSkipped: string | undefined;
  if (!workersFlag) {
    workersSkipped = 'this build of serve has no --workers';
  } else {
    try {
      workers = await measureWorkers(clients, fourNames, log);
    } catch (error) {
      workersSkipped = `failed: ${(error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''}`;
    }
  }
  if (workersSkipped !== undefined) log(`multi-worker rows not measured: ${workersSkipped}`);
  backend.close();
  await Promise.all(clients.map((c) => stopChild(c.child)));

  // Passthrough: wrk against the nginx HTTPS backend directly, through ours and through ualpn (fresh servers, one
  // worker each, both pointed at nginx).
  const { nginx, context } = await startPassthroughBackend(peers, new AbortController().signal, {
    warmupSeconds: PASSTHROUGH_WARMUP_SECONDS,
    measureSeconds: PASSTHROUGH_MEASURE_SECONDS,
  });
  const passthrough = await measurePassthrough(context, nginx);
  await nginx.stop();
  log('passthrough rows done');

  // Rows.
  const per = (f: (cell: Cell) => number) => (pair: Record<ServerKind, Cell>): Record<ServerKind, number> => ({ ours: f(pair.ours), ualpn: f(pair.ualpn) });
  const failures: Record<ServerKind, number> = { ours: 0, ualpn: 0 };
  const firstErrors: Partial<Record<ServerKind, string>> = {};
  const handshakeRows = (label: string, pair: Record<ServerKind, Cell>): void => {
    const rate = per((c) => c.handshakes / c.seconds)(pair);
    const failed = (c: Cell): string => (c.failures > 0 ? ` (+ ${fmt(c.failures / c.seconds, 0)} failed/s)` : '');
    rows.push([`${label}: handshakes/s`, `${fmt(rate.ours, 0)}${failed(pair.ours)}`, `${fmt(rate.ualpn, 0)}${failed(pair.ualpn)}`, ratio(rate.ours, rate.ualpn)]);
    compare(`${label}: server CPU per handshake`, per((c) => (c.serverCpu / Math.max(1, c.handshakes)) * 1e6)(pair), (v) => `${fmt(v, 0)} µs`);
    const p50 = per((c) => percentile(c.latenciesMs, 0.5))(pair);
    const p99 = per((c) => percentile(c.latenciesMs, 0.99))(pair);
    rows.push([`${label}: latency p50 / p99`, `${fmt(p50.ours, 2)} / ${fmt(p99.ours, 2)} ms`, `${fmt(p50.ualpn, 2)} / ${fmt(p99.ualpn, 2)} ms`, `${ratio(p50.ours, p50.ualpn)} / ${ratio(p99.ours, p99.ualpn)}`]);
    const cores = os.availableParallelism();
    const share = (c: Cell, cpu: number): string => `${fmt((cpu / c.seconds / cores) * 100, 0)} %`;
    // Everything else: other processes on the machine, interrupts, the hypervisor (clamped: the sources differ).
    const shares = (c: Cell): string => `${share(c, c.serverCpu)} / ${share(c, c.clientCpu)} / ${fmt(restShare(c) * 100, 0)} %`;
    rows.push([`${label}: CPU share of the ${cores} cores, server / client / rest of the machine`, shares(pair.ours), shares(pair.ualpn), '—']);
    for (const kind of SERVER_KINDS) {
      const cell = pair[kind];
      failures[kind] += cell.failures;
      if (cell.failures > 0) firstErrors[kind] ??= `${label}: ${cell.firstError ?? '?'}`;
    }
  };
  for (const [key, pair] of cells) {
    const [version, count, concurrency] = key.split('|');
    handshakeRows(`${version === 'TLSv1.3' ? 'TLS 1.3' : 'TLS 1.2'}, ${count === '1000' ? '1,000' : count} names, ${concurrency} client${concurrency === '1' ? '' : 's'}`, pair);
  }
  if (workers === undefined) {
    notMeasured(`${WORKERS} workers each (ours --workers ${WORKERS}, ualpn -n ${WORKERS}): handshakes/s`, workersSkipped ?? '');
  } else {
    for (const [concurrency, pair] of workers.cells) {
      handshakeRows(`${WORKERS} workers each (ours --workers ${WORKERS}, ualpn -n ${WORKERS}), TLS 1.3, 4 names, ${concurrency} clients`, pair);
    }
  }
  compare(`deploy one at a time (${SINGLE_DEPLOYS}), send → OK: p50`, { ours: percentile(deploys.ours.singleMs, 0.5), ualpn: percentile(deploys.ualpn.singleMs, 0.5) }, (v) => `${fmt(v, 2)} ms`);
  compare(`deploy one at a time (${SINGLE_DEPLOYS}), send → OK: p99`, { ours: percentile(deploys.ours.singleMs, 0.99), ualpn: percentile(deploys.ualpn.singleMs, 0.99) }, (v) => `${fmt(v, 2)} ms`);
  compare(`${fmt(BURST_DEPLOYS, 0)} deploys, ${BURST_IN_FLIGHT} in flight: all OK after`, { ours: deploys.ours.burstOkMs, ualpn: deploys.ualpn.burstOkMs }, (v) => `${fmt(v, 0)} ms`);
  compare(`same: all ${fmt(BURST_DEPLOYS, 0)} served (a handshake succeeded for each) after`, { ours: deploys.ours.burstServedMs, ualpn: deploys.ualpn.burstServedMs }, (v) => `${fmt(v, 0)} ms`);
  compare('same: names whose first handshake right after OK failed', { ours: deploys.ours.notServedAtOk, ualpn: deploys.ualpn.notServedAtOk }, (v) => fmt(v, 0));
  passthroughRows(passthrough);
  compare(`start-up: spawn → first served handshake (median of ${STARTUP_RUNS})`, { ours: percentile(startup.ours, 0.5), ualpn: percentile(startup.ualpn, 0.5) }, (v) => `${fmt(v, 0)} ms`);
  compare('RSS idle (fresh server, no challenge, one handshake served)', rssIdle, mib);
  compare(`same server: RSS with ${fmt(BURST_DEPLOYS, 0)} challenges deployed`, rssLoaded, mib);
  if (idle === undefined) {
    notMeasured(`RSS with ${fmt(IDLE_CONNECTIONS, 0)} idle TCP connections`, idleSkipped ?? '');
  } else {
    const i = idle;
    compare(
      `RSS with ${fmt(IDLE_CONNECTIONS, 0)} idle TCP connections (fresh servers: ours with ${MANY_CONNECTION_FLAGS.join(' ')}, ualpn with ${UALPN_MANY_CONNECTION_FLAGS.join(' ')})`,
      { ours: i.ours.rssAfter, ualpn: i.ualpn.rssAfter },
      mib,
    );
    compare(
      'same: bytes per connection (RSS delta / connections still open)',
      { ours: (i.ours.rssAfter - i.ours.rssBefore) / Math.max(1, i.ours.stillOpen), ualpn: (i.ualpn.rssAfter - i.ualpn.rssBefore) / Math.max(1, i.ualpn.stillOpen) },
      (v) => fmt(v, 0),
    );
    rows.push(['same: connections opened / still open when RSS was read', `${fmt(i.ours.opened, 0)} / ${fmt(i.ours.stillOpen, 0)}`, `${fmt(i.ualpn.opened, 0)} / ${fmt(i.ualpn.stillOpen, 0)}`, '—']);
  }

  const versionRun = spawnSync(UALPN, ['-V'], { encoding: 'utf8' });
  const ualpnVersion = /version (\S+)/.exec(`${versionRun.stdout}${versionRun.stderr}`)?.[1];
  notes.push(
    `Every row but the multi-worker ones compares one worker with one: ours ${workersFlag ? 'with --workers 1' : 'as one process (this build has no --workers)'} and --log-level warn, ` +
      `ualpn with -n 1 and without -v (both then log warnings and errors only). CPU and RSS are summed over each server's processes (ualpn: master + worker).`,
    `Handshake cells: ${WARMUP_MS} ms warm-up + ${MEASURE_MS} ms measured, after one unmeasured ${WARM_UP_CONCURRENCY}-client cell per TLS version on each fresh server; full handshakes (no session reuse), ALPN acme-tls/1, SNI drawn at random among the deployed names; ` +
      `load from up to ${MAX_CLIENT_PROCESSES} node client processes; latency = tls.connect → 'secureConnect'. Ours ran with ${HANDSHAKE_FLAGS.join(' ')} ` +
      `(the default 64 per source would refuse the 256-client cells, all from 127.0.0.1).`,
    `Contention: ${contention.retried} measurement(s) repeated because the rest of the machine took more than ${fmt(CONTENDED_SHARE * 100, 0)} % of the cores ` +
      `(a handshake cell pair at most ${CONTENDED_RETRIES} more times, a passthrough target once, ${fmt(RETRY_BUDGET_MS / 1000, 0)} s of retries at most; the least contended kept); ` +
      `${contention.kept} stayed above it (see "rest of the machine").`,
    workers === undefined
      ? `Multi-worker rows not measured: ${workersSkipped ?? ''}.`
      : `Multi-worker rows: fresh servers, ours with --workers ${WORKERS} ${HANDSHAKE_FLAGS.join(' ')} (${workers.processes.ours} processes), ` +
        `ualpn with -n ${WORKERS} (${workers.processes.ualpn} processes); server CPU per handshake is summed over all of them.`,
    `Certificate keys served: alpn-responder ${keyType.ours ?? '?'}, ualpn ${keyType.ualpn ?? '?'}; both checked with checkChallengeCertificate (TLS 1.2 and 1.3) before measuring.`,
    passthroughNote(passthrough),
    `${machine()}, shared by the clients and the server; ualpn ${ualpnVersion ?? '?'}; node ${process.version}; ` +
      `loopback only; load average (1 min) ${loadAtStart.toFixed(2)} at start, ${loadAverage().toFixed(2)} at end; run took ${fmt((performance.now() - runStarted) / 1000, 0)} s.`,
  );
  for (const kind of SERVER_KINDS) {
    if (failures[kind] > 0) {
      notes.push(
        `${kind}: ${fmt(failures[kind], 0)} handshake(s) failed in the measured windows ("failed/s" above; not counted in handshakes/s or latency, ` +
          `but their CPU is in the server's CPU per handshake); first: ${firstErrors[kind] ?? '?'}`,
      );
    }
    const log = logs[kind];
    if (log.count > 0) notes.push(`${kind} logged ${fmt(log.count, 0)} line(s) during the handshake and deploy rows, the first: \`${log.first ?? ''}\``);
  }
  printTable();
}

try {
  await main();
} catch (error) {
  process.exitCode = 1;
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
} finally {
  await peers.run();
  killTracked();
}
process.exit();
