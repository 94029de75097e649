/**
 * Reading a multi-worker daemon's log, and making connections until every worker has logged one: with SCHED_NONE
 * the kernel decides which worker accepts, and it may favour one for a while.
 */
import { validateAsCa } from './ca-check.js';
import { logField, waitUntil } from './daemon.js';
import type { Endpoint } from './nginx.js';

/** Where log lines come from: a started daemon, or a function returning the lines so far. */
export type LogSource = { logLines(): string[] } | (() => string[]);

const linesOf = (log: LogSource): string[] => (typeof log === 'function' ? log() : log.logLines());

/** Log lines of one event, optionally only those after the first `since` lines. */
export function events(log: LogSource, event: string, since = 0): string[] {
  return linesOf(log).slice(since).filter((line) => logField(line, 'event') === event);
}

/** Worker id → pid, from the latest `event=worker-ready` line of each worker. */
export function workerPids(log: LogSource): Map<string, number> {
  return new Map(events(log, 'worker-ready').map((line) => [logField(line, 'worker') ?? '', Number(logField(line, 'pid'))]));
}

/**
 * How many connections for `sni` each worker logged with `outcome`, counting log lines after `since`; `where`
 * narrows the lines further (e.g. to one backend). An undefined `sni` counts every name.
 */
export function outcomesByWorker(log: LogSource, sni: string | undefined, outcome: string, since = 0, where: (line: string) => boolean = () => true): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of events(log, 'connection', since)) {
    if ((sni !== undefined && logField(line, 'sni') !== sni) || logField(line, 'outcome') !== outcome || !where(line)) continue;
    const worker = logField(line, 'worker') ?? 'none';
    counts.set(worker, (counts.get(worker) ?? 0) + 1);
  }
  return counts;
}

/** What {@link untilEveryWorker} connects to and reads. */
export interface WorkerTarget {
  readonly to: Endpoint;
  readonly lines: () => string[];
}

/** Options of {@link untilEveryWorker}. */
export interface UntilEveryWorkerOptions {
  /** The `outcome=` every worker must log; default `served`. */
  readonly outcome?: string;
  /** The digest the CA expects; default digestOf(identifier). */
  readonly digest?: Uint8Array;
  /** Make at least this many attempts, even if every worker has logged the outcome already. */
  readonly min?: number;
  /** Give up (and fail) after this many. */
  readonly max?: number;
  readonly parallel?: number;
  /** Only log lines after this many count (e.g. after a worker was replaced). */
  readonly since?: number;
  /** Only log lines this accepts count (e.g. one backend's). */
  readonly where?: (line: string) => boolean;
  /**
   * One attempt, resolving to why it failed or undefined. Default: a validation as the CA makes it, which for
   * `served` must pass the CA's checks and for `rejected` must be refused with unrecognized_name.
   */
  readonly attempt?: () => Promise<string | undefined>;
}

/** What {@link untilEveryWorker} did. */
export interface EveryWorkerRun {
  /** Attempts made. */
  readonly total: number;
  /** The attempts that failed, and a missing log line (expected: none). */
  readonly failures: string[];
  /** Worker id → lines logged with the outcome. */
  readonly byWorker: Map<string, number>;
}

/** The default attempt of {@link untilEveryWorker}: one validation of `identifier`, judged for `outcome`. */
async function validation(to: Endpoint, identifier: string, outcome: string, digest: Uint8Array | undefined): Promise<string | undefined> {
  const result = await validateAsCa(to, identifier, { digest });
  if (outcome === 'rejected') {
    return !result.ok && result.error === 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' ? undefined : result.ok ? 'served' : result.error;
  }
  if (!result.ok) return result.error;
  return result.check.ok ? undefined : JSON.stringify(result.check);
}

/**
 * Connects to `target.to` (by default validating `identifier` as the CA does), `parallel` at a time, until at least
 * `min` attempts were made and the log shows `outcome=` for `identifier` from every worker in `workers` (at most
 * `max` attempts). Then waits for the workers' log lines: every worker's, and unless the outcome is `rejected`
 * (refusals may be logged rate-limited), one for each attempt that did not fail.
 */
export async function untilEveryWorker(
  target: WorkerTarget,
  identifier: string | undefined,
  workers: readonly string[],
  options: UntilEveryWorkerOptions = {},
): Promise<EveryWorkerRun> {
  const { outcome = 'served', digest, min = 0, max = 400, parallel = 4, since = 0, where } = options;
  const attempt = options.attempt ?? (() => validation(target.to, identifier ?? '', outcome, digest));
  const byWorker = (): Map<string, number> => outcomesByWorker(target.lines, identifier, outcome, since, where);
  const loggedLines = (): number => [...byWorker().values()].reduce((a, b) => a + b, 0);
  const everyWorkerLogged = (): boolean => {
    const counts = byWorker();
    return workers.every((id) => (counts.get(id) ?? 0) > 0);
  };
  const baseline = loggedLines();
  const failures: string[] = [];
  let total = 0;
  while (total < max && (total < min || !everyWorkerLogged())) {
    const batch = Math.min(parallel, max - total);
    for (const failure of await Promise.all(Array.from({ length: batch }, attempt))) {
      total++;
      if (failure !== undefined) failures.push(`#${total}: ${failure}`);
    }
  }
  // A worker logs a connection just after the client saw it end: wait for the lines of this run.
  const logged = (): boolean => everyWorkerLogged() && (outcome === 'rejected' || loggedLines() >= baseline + total - failures.length);
  await waitUntil(`outcome=${outcome} from workers ${workers.join(', ')} within ${max} attempts`, () => (logged() ? true : undefined)).catch(
    (error: Error) => failures.push(`${error.message}; ${outcome}: ${JSON.stringify([...byWorker()])}`),
  );
  return { total, failures, byWorker: byWorker() };
}
