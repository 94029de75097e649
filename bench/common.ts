/**
 * Helpers shared by the bench scripts: percentiles, CPU and memory read from /proc, number formatting, one
 * `acme-tls/1` handshake, and the cleanup list that stops peers (nginx, wrk) however a run ends.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import tls from 'node:tls';
import type { Test } from 'tap';

/** Nearest-rank percentile, `q` in (0, 1]; NaN for no values. */
export function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

// ---------------------------------------------------------------------------------------------------------------
// /proc

export const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

function readStat(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Fields 3 and on of a `/proc/<pid>/stat` line, so `fields[0]` is the state and `fields[1]` the parent pid. */
function statFields(stat: string): string[] {
  // The command name (field 2) may hold spaces and parentheses, so fields are counted after its closing one.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Utime + stime of one `/proc/<pid>/stat` line, seconds. */
export function statCpuSeconds(stat: string): number {
  const fields = statFields(stat);
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** `pid` and all its descendants (a server's workers; nginx's master and workers). */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat !== undefined) parents.set(Number(entry), Number(statFields(stat)[1]));
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** Utime + stime summed over `pids`, seconds (a process already gone counts 0). */
export function cpuSeconds(pids: readonly number[]): number {
  let seconds = 0;
  for (const pid of pids) {
    const stat = readStat(pid);
    if (stat !== undefined) seconds += statCpuSeconds(stat);
  }
  return seconds;
}

/**
 * CPU seconds the whole machine has been busy, summed over its cores (user, nice, system, irq, softirq and steal
 * from the first line of /proc/stat): the difference over a window, less the server's and the client's, is what
 * everything else took (other processes on a shared machine, interrupts, the hypervisor).
 */
export function machineBusySeconds(): number {
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS;
}

/** VmRSS summed over `pids`, bytes (pages a forked process shares with its parent count once per process). */
export function rssBytes(pids: readonly number[]): number {
  let kib = 0;
  for (const pid of pids) {
    try {
      kib += Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      // gone
    }
  }
  return kib * 1024;
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

/** `value` with exactly `digits` decimals and thousands separators; `—` when not finite. */
export function fmt(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '—';
}

/** `a / b` as `1.23×`; `—` when it is undefined. */
export function ratio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a) && Number.isFinite(b) ? `${fmt(a / b, 2)}×` : '—';
}

/** CPUs, their model and the 1-minute load average, for the line under a table. */
export function machine(): string {
  return `${os.availableParallelism()} CPU(s) ${os.cpus()[0]?.model ?? ''}`.trim();
}

export function loadAverage(): number {
  return os.loadavg()[0] ?? 0;
}

// ---------------------------------------------------------------------------------------------------------------
// One handshake

/**
 * One `acme-tls/1` handshake on 127.0.0.1; resolves with the leaf certificate, or undefined when it fails.
 *
 * The socket is ended, not destroyed: with TLS 1.3 the client's Finished may still be queued when 'secureConnect'
 * fires, and a destroy would drop it, leaving the server waiting for the end of a handshake that never comes
 * (our daemon then holds the connection, and its per-source slot, until --handshake-timeout).
 */
export function handshake(port: number, servername: string, version: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3'): Promise<tls.PeerCertificate | undefined> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername,
      ALPNProtocols: ['acme-tls/1'],
      minVersion: version,
      maxVersion: version,
      rejectUnauthorized: false,
    });
    socket.setTimeout(5000, () => socket.destroy());
    socket.once('secureConnect', () => {
      const cert = socket.alpnProtocol === 'acme-tls/1' ? socket.getPeerCertificate() : undefined;
      socket.end();
      resolve(cert);
    });
    socket.once('error', () => resolve(undefined));
    socket.once('close', () => resolve(undefined));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Cleanup

/**
 * Cleanup actions, run last-registered first. `run()` awaits each (the normal end of a run); `runNow()` starts
 * each without waiting, for a process about to exit (a signal handler, 'exit'): every stop() of the test helpers
 * sends its SIGTERM synchronously, and temp directories are removed synchronously.
 */
export class Cleanup {
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

  runNow(): void {
    for (let action = this.#actions.pop(); action !== undefined; action = this.#actions.pop()) {
      try {
        const result = action();
        if (result instanceof Promise) result.catch(() => undefined);
      } catch {
        // best effort: the process is exiting
      }
    }
  }

  /** startNginx takes a tap Test only to call its teardown(), which this class has with the same meaning. */
  asTest(): Test {
    return this as unknown as Test;
  }
}
