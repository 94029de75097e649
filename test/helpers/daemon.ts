/**
 * Child-process helpers for tests that need real peers: free ports, bounded polling, process groups that are
 * always cleaned up, and our own daemon (`node dist/cli.js serve`) started as a child.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanChildEnvironments } from './child-env.js';

export { withoutTapHooks } from './child-env.js';

// Every child a test starts, by whatever means, starts without tap's hooks.
cleanChildEnvironments();

/** Repository root (this file lives in test/helpers/). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Built CLI entry point. */
export const CLI_PATH = path.join(REPO_ROOT, 'dist', 'cli.js');

/** True when running under CI, where a missing peer is a failure rather than a skip. */
export const IN_CI = process.env.CI === 'true';

/** The subset of a tap Test these helpers use, so they do not depend on tap's type exports. */
export interface TestLike {
  fail(message: string): unknown;
  comment(...message: unknown[]): unknown;
}

/** Absolute path of `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Test options that skip when a peer binary (or the built CLI) is missing — except under `CI=true`, where the
 * absence is recorded as a failure first, because a CI run that silently skips its end-to-end tests proves nothing.
 */
export function requirePeers(t: TestLike, binaries: readonly string[], needBuild = false): { skip?: string } {
  const missing = binaries.filter((name) => which(name) === undefined);
  if (needBuild && !existsSync(CLI_PATH)) missing.push(`${path.relative(REPO_ROOT, CLI_PATH)} (run \`npm run build\`)`);
  if (missing.length === 0) return {};
  const reason = `missing peer(s): ${missing.join(', ')}`;
  if (IN_CI) t.fail(`${reason} — .ci/run must install them (CI=true never skips)`);
  return { skip: reason };
}

/**
 * Test options for a test that needs something of the machine other than a binary (an IPv6 loopback, say): a skip
 * with `reason` when `present` is false — except under `CI=true`, where the absence is recorded as a failure, as in
 * {@link requirePeers}.
 */
export function requireCapability(t: TestLike, present: boolean, reason: string): { skip?: string } {
  if (present) return {};
  if (IN_CI) t.fail(`${reason} — CI must provide it (CI=true never skips)`);
  return { skip: reason };
}

/** Thrown from a {@link waitUntil} check to stop polling at once (other errors just mean "not yet"). */
export class GiveUp extends Error {}

/**
 * Polls `check` until it returns a value other than undefined, or throws once `timeoutMs` has passed. The limit is a
 * hang guard, not a measurement: generous, so that a loaded machine only makes the wait longer.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function listenOnce(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(bound));
    });
  });
}

function bindUdpOnce(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', (error) => {
      socket.close();
      reject(error);
    });
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve()));
  });
}

/**
 * A port that is free right now on every host in `hosts` (TCP, and UDP too with `udp`), for peers that need the
 * number in their configuration. Found by letting the kernel pick on the first host, then checking the others.
 */
export async function freePort(hosts: readonly string[] = ['127.0.0.1'], options: { udp?: boolean } = {}): Promise<number> {
  const [first, ...rest] = hosts;
  if (first === undefined) throw new Error('freePort needs at least one host');
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(first, 0);
    try {
      for (const host of rest) await listenOnce(host, port);
      if (options.udp) for (const host of hosts) await bindUdpOnce(host, port);
      return port;
    } catch {
      // Taken on another host or protocol: let the kernel pick again.
    }
  }
  throw new Error(`no port free on ${hosts.join(', ')} after 50 attempts`);
}

/** True when ::1 can be bound on this machine (some CI containers have no IPv6 loopback). */
export async function hasIPv6Loopback(): Promise<boolean> {
  try {
    await listenOnce('::1', 0);
    return true;
  } catch {
    return false;
  }
}

/** A spawned child in its own process group, with its output kept for diagnostics. */
export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved as received. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the child has exited. */
  readonly exited: Promise<number | string>;
  /** The exit code (or signal name) if it has exited already. */
  exitState(): number | string | undefined;
  /** SIGTERM to the whole group, SIGKILL after `graceMs`; resolves once it has exited. Safe to call twice. */
  stop(graceMs?: number): Promise<number | string>;
}

/**
 * Spawns `command` detached (its own process group) so `stop()` reaches every descendant.
 */
export function spawnManaged(
  name: string,
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ManagedProcess {
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (error) => {
      output += `\n[spawn error] ${error.message}\n`;
      resolve('spawn-error');
    });
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  let state: number | string | undefined;
  void exited.then((value) => (state = value));

  const signalGroup = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Group already gone.
    }
  };

  return {
    name,
    child,
    output: () => output,
    exited,
    exitState: () => state,
    async stop(graceMs = 5_000) {
      if (state === undefined) {
        signalGroup('SIGTERM');
        const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      // Descendants that outlived the leader still share its group id.
      signalGroup('SIGKILL');
      return exited;
    },
  };
}

/** Result of a finished command. */
export interface RunResult {
  code: number | string;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs a command to completion in its own process group. The group is
 * killed only once the command has printed nothing for `timeoutMs` (default 120 s): a hang guard that a slow but
 * progressing command — dehydrated validating on a loaded machine — never meets, however long it takes in all.
 */
export async function run(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { input?: string; timeoutMs?: number; onStdoutLine?: (line: string) => void } = {},
): Promise<RunResult> {
  const started = performance.now();
  const { input, timeoutMs = 120_000, onStdoutLine, ...spawnOptions } = options;
  const child = spawn(command, args, { ...spawnOptions, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let partial = '';
  let timer: NodeJS.Timeout | undefined;
  const armSilenceGuard = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stderr += `\n[killed: no output for ${timeoutMs} ms; ${command} hung]\n`;
      killGroup();
    }, timeoutMs);
  };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    armSilenceGuard();
    stdout += chunk;
    if (onStdoutLine === undefined) return;
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) onStdoutLine(line);
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    armSilenceGuard();
    stderr += chunk;
  });
  child.stdin?.on('error', () => {});
  child.stdin?.end(input ?? '');
  const killGroup = (): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  armSilenceGuard();
  const code = await new Promise<number | string>((resolve) => {
    child.once('error', (error) => {
      stderr += `[spawn error] ${error.message}\n`;
      resolve('spawn-error');
    });
    // 'close', not 'exit': all output has been read by then.
    child.once('close', (exitCode, signal) => resolve(exitCode ?? signal ?? 'unknown'));
  });
  clearTimeout(timer);
  killGroup();
  return { code, stdout, stderr, ms: performance.now() - started };
}

/**
 * Sends one line to a control socket and collects the answer: every line up to and including the first that
 * starts with `OK` or `ERR` (so `list`, which sends entries before `OK <n>`, comes back whole).
 */
export function controlRequest(socketPath: string, line: string, timeoutMs = 5_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    let buffer = '';
    const lines: string[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer to '${line}' within ${timeoutMs} ms (got ${JSON.stringify(buffer)})`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${line}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const reply = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        lines.push(reply);
        if (reply.startsWith('OK') || reply.startsWith('ERR')) {
          clearTimeout(timer);
          socket.end();
          resolve(lines);
          return;
        }
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** One `event=listening` line of the daemon. */
export interface Listener {
  address: string;
  port: number;
}

/** A running daemon started by {@link startDaemon}. */
export interface Daemon {
  readonly process: ManagedProcess;
  readonly controlPath: string;
  readonly listeners: readonly Listener[];
  /** Log lines so far. */
  logLines(): string[];
  /** Runs a CLI client command (`deploy`, `clean`, `list`, `status`) against this daemon. */
  cli(args: readonly string[], env?: NodeJS.ProcessEnv): Promise<RunResult>;
  /** Raw control-socket request, see {@link controlRequest}. */
  request(line: string): Promise<string[]>;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | string>;
}

/** Options of {@link startDaemon}. */
export interface DaemonOptions {
  /** `--listen` values, e.g. `127.0.0.1:0`, `[::1]:8443`. */
  listen: readonly string[];
  /** Directory for the control socket; the caller owns and removes it (see shortTempDir). */
  dir: string;
  /** Extra `serve` arguments. */
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  /** The Node.js binary that runs the daemon; default this test's own (`process.execPath`). */
  node?: string;
}

/** The value of `key=` in a logfmt line of the daemon, unquoted. */
export function logField(line: string, key: string): string | undefined {
  const match = new RegExp(`(?:^| )${key}=("(?:[^"\\\\]|\\\\.)*"|\\S+)`).exec(line);
  const raw = match?.[1];
  if (raw === undefined) return undefined;
  return raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
}

/**
 * Environment for our processes: no ALPN_RESPONDER_* leaking in from the developer's shell, no proxy variables (tap's
 * hooks are taken out of every child's environment anyway, see child-env.ts).
 */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('ALPN_RESPONDER_') || /^(https?|all|no)_proxy$/i.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Starts `node dist/cli.js serve` and resolves once it has logged `event=ready`, with the real bound ports read
 * from its `event=listening` lines. Rejects (after stopping it) if it exits or is not ready in time.
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const dir = options.dir;
  await mkdir(dir, { recursive: true });
  const controlPath = path.join(dir, 'control.sock');
  const args = [CLI_PATH, 'serve', ...options.listen.flatMap((l) => ['--listen', l]), '--control', controlPath];
  args.push(...(options.args ?? []));
  // One process unless the test is about workers: its pid is then the whole daemon (RSS, signals, /proc).
  if (!args.includes('--workers')) args.push('--workers', '1');
  const proc = spawnManaged('alpn-responder', options.node ?? process.execPath, args, { env: cleanEnv(options.env), cwd: dir });
  const lines = (): string[] => proc.output().split('\n').filter((l) => l !== '');
  try {
    await waitUntil(
      'alpn-responder event=ready',
      async () => {
        if (lines().some((l) => / event=ready( |$)/.test(l))) return true;
        const state = proc.exitState();
        if (state !== undefined) throw new GiveUp(`daemon exited (${state}) before ready`);
        return undefined;
      },
      // A hang guard: the wait ends with the ready line, or at once if the daemon exits.
      options.readyTimeoutMs ?? 60_000,
    );
  } catch (error) {
    await proc.stop();
    throw new Error(`${(error as Error).message}\n--- daemon output ---\n${proc.output()}`);
  }
  // With --workers every worker logs the listeners it shares: one entry per address.
  const listeners: Listener[] = [
    ...new Map(
      lines()
        .filter((l) => / event=listening( |$)/.test(l))
        .map((l) => [`${logField(l, 'address')}:${logField(l, 'port')}`, { address: logField(l, 'address') ?? '', port: Number(logField(l, 'port')) }] as const),
    ).values(),
  ];
  return {
    process: proc,
    controlPath,
    listeners,
    logLines: lines,
    cli: (cliArgs, env) =>
      run(process.execPath, [CLI_PATH, ...cliArgs, '--control', controlPath], { env: cleanEnv(env) }),
    request: (line) => controlRequest(controlPath, line),
    stop: () => proc.stop(),
  };
}
