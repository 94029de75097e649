/**
 * The primary's side of `--workers N`: N worker processes share the TLS listeners (the primary opens them, each
 * worker accepts on them directly; cluster's SCHED_NONE, so no connection passes through the primary) and serve the
 * challenge certificates the primary builds once and sends to all of them. A change counts as done only once every
 * worker has confirmed it; a worker that exits or stops answering is replaced, and its replacement gets every
 * challenge before it serves.
 */
import type { ChallengeCertificate } from '../challenge/certificate.js';
import { AlpnResponderError, ERROR_CODES, type ErrorCode } from '../errors.js';
import type { Activity } from '../net/activity.js';
import type { Logger } from '../log.js';
import type { CertificateSink } from '../net/context-table.js';
import type { ListenAddress } from '../net/listen-address.js';
import type { Challenge } from '../challenge/challenge.js';
import type { WireConnectionSettings } from '../net/tls-port-settings.js';
import { isMessage, toWire, type ToPrimary, type ToWorker, type WireActivity, type WireCertificate, type WorkerSettings } from './messages.js';
import { clusterChannel, type WorkerChannel, type WorkerHandle } from './worker-channel.js';

/** Options of {@link WorkerPool}. */
export interface WorkerPoolOptions {
  readonly count: number;
  /** The worker program (dist/worker.js). */
  readonly exec: string;
  /** How workers are forked and reached; default node:cluster running `exec` ({@link clusterChannel}). */
  readonly channel?: WorkerChannel;
  /** The pool's other time limits, shorter in tests; defaults as documented on each. */
  readonly timing?: Partial<WorkerPoolTiming>;
  readonly settings: WorkerSettings;
  readonly log: Logger;
  /** How long a worker may take to confirm a change before it counts as failed and is replaced. */
  readonly replyTimeoutMs?: number;
  /**
   * Called when no worker serves and a replacement could not start: the shared sockets went with the last worker
   * and cannot be opened again (root given up, or systemd's descriptor closed). Only a restart helps.
   */
  readonly onLost?: (error: Error) => void;
}

/** A worker that does not confirm within this is replaced: a deploy must not wait on it forever. */
const REPLY_TIMEOUT_MS = 10_000;

/** Time limits of {@link WorkerPool} besides `replyTimeoutMs`. */
export interface WorkerPoolTiming {
  /** A worker not serving this long after it was forked has failed (a cold start of Node takes well under 1 s). */
  readonly startTimeoutMs: number;
  /** How long `list` and `status` wait for counters before answering with those that came. */
  readonly activityTimeoutMs: number;
  /** Replacement back-off: doubles from the first to the last after consecutive failures, reset by a start. */
  readonly respawnFirstMs: number;
  readonly respawnMaxMs: number;
  /** Grace after the shutdown timeout before workers that still run are killed. */
  readonly killGraceMs: number;
}

const DEFAULT_TIMING: WorkerPoolTiming = {
  startTimeoutMs: 20_000,
  activityTimeoutMs: 2_000,
  respawnFirstMs: 100,
  respawnMaxMs: 5_000,
  killGraceMs: 2_000,
};

interface Member {
  readonly worker: WorkerHandle;
  /** Said `hello` and got `init`: from then on it is sent every change (it keeps them until it serves). */
  greeted: boolean;
  ready: boolean;
}

interface Request {
  readonly waiting: Set<Member>;
  readonly done: (error?: AlpnResponderError) => void;
  readonly timer: NodeJS.Timeout;
}

type PoolState = 'idle' | 'starting' | 'running' | 'closing';

function workerError(code: string, message: string, remedy?: string): AlpnResponderError {
  return new AlpnResponderError(code in ERROR_CODES ? (code as ErrorCode) : 'ERR_WORKER', message, remedy === undefined ? undefined : { remedy });
}

/** N worker processes serving the TLS port, fed from this (primary) process. */
export class WorkerPool implements CertificateSink {
  readonly #options: WorkerPoolOptions;
  readonly #log: Logger;
  readonly #channel: WorkerChannel;
  readonly #timing: WorkerPoolTiming;
  readonly #members = new Set<Member>();
  /** What every worker serves: sent whole to a worker that starts. */
  readonly #certificates = new Map<string, WireCertificate>();
  /** Set by {@link open}: workers started from then on serve at once. */
  #open = false;
  readonly #requests = new Map<number, Request>();
  /** `list`/`status` requests in flight: a reply from a worker, or `undefined` when the worker is gone. */
  readonly #activity = new Map<number, (member: Member, activity: WireActivity | undefined) => void>();
  #settings: WorkerSettings;
  #state: PoolState = 'idle';
  #nextId = 1;
  #respawnMs: number;
  #respawnTimer: NodeJS.Timeout | undefined;
  #addresses: readonly ListenAddress[] = [];
  #closing: Promise<void> | undefined;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#settings = options.settings;
    this.#channel = options.channel ?? clusterChannel(options.exec);
    this.#timing = { ...DEFAULT_TIMING, ...options.timing };
    this.#respawnMs = this.#timing.respawnFirstMs;
  }

  /** The addresses the workers listen on (port 0 resolved). */
  get addresses(): readonly ListenAddress[] {
    return this.#addresses;
  }

  /** Worker processes running now. */
  get size(): number {
    return this.#members.size;
  }

  /** Worker processes serving the TLS port now. */
  get serving(): number {
    let count = 0;
    for (const member of this.#members) if (member.ready) count++;
    return count;
  }

  /**
   * Starts the workers with everything put so far; resolves once each listens and serves, rejects (with the code a
   * worker reported, such as ERR_LISTEN) after stopping them all if any cannot.
   */
  async start(): Promise<void> {
    this.#state = 'starting';
    const starting = Array.from({ length: this.#options.count }, () => this.#spawn());
    const results = await Promise.allSettled(starting);
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure !== undefined) {
      await this.close(0);
      throw failure.reason;
    }
    this.#state = 'running';
  }

  /**
   * Serves a certificate in every worker; resolves once each serving worker confirms. Rejects (ERR_WORKER) while no
   * worker serves at all — an `OK` then would promise what nothing does — but the certificate is still kept for the
   * workers that start later.
   */
  put(challenge: Challenge, certificate: Pick<ChallengeCertificate, 'certPem' | 'keyPem'>): Promise<void> {
    const wire: WireCertificate = { ...toWire(challenge), certPem: certificate.certPem, keyPem: certificate.keyPem };
    this.#certificates.set(challenge.identifier.sni, wire);
    if (this.#state === 'running' && this.serving === 0) {
      return Promise.reject(new AlpnResponderError('ERR_WORKER', 'no worker process serves the TLS port right now (they are being replaced; see the log)'));
    }
    return this.#request({ t: 'put', id: this.#nextId++, certificate: wire });
  }

  delete(sni: string): void {
    this.#certificates.delete(sni);
    this.#broadcast({ t: 'delete', sni });
  }

  /**
   * Start-up is complete (every challenge restored at start is served by every worker): the workers serve the
   * connections they held since listening, and a worker started later serves at once.
   */
  open(): void {
    this.#open = true;
    this.#broadcast({ t: 'open' });
  }

  /** New settings for the TLS port (reload); workers apply them to connections accepted afterwards. */
  configure(connection: WireConnectionSettings): void {
    this.#settings = { ...this.#settings, connection };
    this.#broadcast({ t: 'configure', connection });
  }

  /** Counters summed over the workers that answer within two seconds. */
  activity(): Promise<Activity> {
    const id = this.#nextId++;
    const replies: WireActivity[] = [];
    const asked = new Set([...this.#members].filter((member) => member.ready));
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#activity.delete(id);
        resolve(sumActivity(replies));
      };
      const timer = setTimeout(finish, this.#timing.activityTimeoutMs);
      this.#activity.set(id, (member, activity) => {
        if (!asked.delete(member)) return;
        if (activity !== undefined) replies.push(activity);
        if (asked.size === 0) finish();
      });
      if (asked.size === 0) finish();
      for (const member of asked) send(member, { t: 'activity', id });
    });
  }

  /**
   * Tells every worker to stop accepting and to close once its connections are done (at most `timeoutMs`), then
   * kills those still running after a grace period; idempotent.
   */
  close(timeoutMs: number): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'closing';
      clearTimeout(this.#respawnTimer);
      const exits = [...this.#members].map((member) => exited(member.worker));
      for (const member of this.#members) {
        // One still loading could miss the message; it serves nothing yet, so nothing is lost by ending it.
        if (member.greeted) send(member, { t: 'close', timeoutMs });
        else member.worker.kill();
      }
      const kill = setTimeout(() => {
        for (const member of this.#members) member.worker.kill();
      }, timeoutMs + this.#timing.killGraceMs);
      await Promise.all(exits);
      clearTimeout(kill);
    })();
    return this.#closing;
  }

  /** Forks one worker; resolves once it serves, rejects if it reports a failure or exits first. */
  #spawn(): Promise<void> {
    const worker = this.#channel.fork();
    const member: Member = { worker, greeted: false, ready: false };
    this.#members.add(member);
    const id = worker.id;
    return new Promise<void>((resolve, reject) => {
      const { startTimeoutMs } = this.#timing;
      const startTimer = setTimeout(() => {
        reject(new AlpnResponderError('ERR_WORKER', `worker ${id} did not start within ${startTimeoutMs / 1000} s`));
        worker.kill();
      }, startTimeoutMs);
      worker.onMessage((message: unknown) => {
        if (!isMessage(message)) return;
        const reply = message as ToPrimary;
        switch (reply.t) {
          case 'hello':
            // What this worker must serve, as of now; every later change follows in order.
            member.greeted = true;
            send(member, { t: 'init', settings: this.#settings, challenges: [...this.#certificates.values()], open: this.#open });
            return;
          case 'ready':
            clearTimeout(startTimer);
            member.ready = true;
            this.#respawnMs = this.#timing.respawnFirstMs;
            if (this.#addresses.length === 0) this.#addresses = reply.addresses;
            this.#log.log('info', 'worker-ready', { worker: id, pid: worker.pid });
            resolve();
            return;
          case 'failed':
            clearTimeout(startTimer);
            reject(workerError(reply.code, reply.message, reply.remedy));
            return;
          case 'ack':
            this.#acknowledged(member, reply.id, reply.error);
            return;
          case 'activity':
            this.#activity.get(reply.id)?.(member, reply.activity);
        }
      });
      // An IPC send to a worker that is going away fails; its exit is what counts.
      worker.onError((error) => this.#log.log('debug', 'worker-channel-error', { worker: id, error: error.message }));
      worker.onExit((code, signal) => {
        clearTimeout(startTimer);
        this.#members.delete(member);
        for (const requestId of [...this.#requests.keys()]) this.#acknowledged(member, requestId);
        for (const answer of [...this.#activity.values()]) answer(member, undefined);
        reject(new AlpnResponderError('ERR_WORKER', `worker ${id} exited (${signal ?? `code ${code}`}) before it served`));
        // While starting, a worker that never served fails the start instead (see start()).
        if (this.#state === 'closing' || (this.#state === 'starting' && !member.ready)) return;
        this.#log.log('warn', 'worker-exit', { worker: id, pid: worker.pid, code, signal, respawn_ms: this.#respawnMs });
        this.#scheduleRespawn();
      });
    });
  }

  #scheduleRespawn(): void {
    if (this.#respawnTimer !== undefined) return;
    this.#respawnTimer = setTimeout(() => {
      this.#respawnTimer = undefined;
      if (this.#state === 'closing' || this.#members.size >= this.#options.count) return;
      this.#respawnMs = Math.min(this.#respawnMs * 2, this.#timing.respawnMaxMs);
      this.#spawn().catch((error: unknown) => {
        const reason = error instanceof Error ? error : new Error(String(error));
        this.#log.log('error', 'worker-failed', { error: reason.message });
        if (this.serving === 0 && this.#state === 'running') this.#options.onLost?.(reason);
      });
      // More than one may be missing.
      if (this.#members.size < this.#options.count) this.#scheduleRespawn();
    }, this.#respawnMs);
  }

  get #replyTimeoutMs(): number {
    return this.#options.replyTimeoutMs ?? REPLY_TIMEOUT_MS;
  }

  /**
   * Sends to every greeted worker and resolves once each serving one has confirmed (or gone). A worker not yet
   * greeted gets the change in its `init`; one still starting applies it before it accepts its first connection, so
   * neither is waited for (its start has its own time limit).
   */
  #request(message: Extract<ToWorker, { t: 'put' }>): Promise<void> {
    const { id } = message;
    this.#broadcast(message);
    const waiting = new Set([...this.#members].filter((member) => member.ready));
    if (waiting.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#requests.delete(id);
        for (const member of waiting) {
          this.#log.log('error', 'worker-unresponsive', { worker: member.worker.id, pid: member.worker.pid });
          member.worker.kill();
        }
        reject(new AlpnResponderError('ERR_WORKER', `${waiting.size} worker(s) did not confirm within ${this.#replyTimeoutMs / 1000} s and were replaced`));
      }, this.#replyTimeoutMs);
      this.#requests.set(id, {
        waiting,
        timer,
        done: (error) => (error === undefined ? resolve() : reject(error)),
      });
    });
  }

  #acknowledged(member: Member, id: number, error?: string): void {
    const request = this.#requests.get(id);
    if (request === undefined || !request.waiting.delete(member)) return;
    if (error === undefined && request.waiting.size > 0) return;
    clearTimeout(request.timer);
    this.#requests.delete(id);
    request.done(error === undefined ? undefined : new AlpnResponderError('ERR_WORKER', `worker ${member.worker.id}: ${error}`));
  }

  #broadcast(message: ToWorker): void {
    for (const member of this.#members) if (member.greeted) send(member, message);
  }
}

function send(member: Member, message: ToWorker): void {
  member.worker.send(message);
}

function exited(worker: WorkerHandle): Promise<void> {
  if (worker.exited) return Promise.resolve();
  return new Promise((resolve) => worker.onExit(() => resolve()));
}

/** Sums worker counters. */
export function sumActivity(replies: readonly WireActivity[]): Activity {
  const servedBySni = new Map<string, number>();
  let served = 0;
  let passed = 0;
  let rejected = 0;
  for (const reply of replies) {
    served += reply.served;
    passed += reply.passed;
    rejected += reply.rejected;
    for (const [sni, count] of reply.servedBySni) servedBySni.set(sni, (servedBySni.get(sni) ?? 0) + count);
  }
  return { served, passed, rejected, servedBySni };
}
