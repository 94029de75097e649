/**
 * Worker processes simulated in the test's own process, behind the {@link WorkerChannel} the pool forks through:
 * each answers as dist/worker.js does (hello, ready, ack, activity, exit on close) unless the test scripts it
 * otherwise, and every message it received is kept. Messages travel asynchronously, as over IPC.
 */
import type { ToPrimary, ToWorker, WireActivity } from '../../src/workers/messages.js';
import type { WorkerChannel, WorkerHandle } from '../../src/workers/worker-channel.js';

/** How a simulated worker answers; each returns what it sends back (nothing when undefined). */
export interface FakeBehaviour {
  /** After the fork; default `hello`. */
  forked?: (worker: FakeWorker) => ToPrimary | undefined;
  /** On `init`; default `ready` on 127.0.0.1:4430. */
  init?: (worker: FakeWorker, message: Extract<ToWorker, { t: 'init' }>) => ToPrimary | undefined;
  /** On `put`; default `ack`. */
  put?: (worker: FakeWorker, message: Extract<ToWorker, { t: 'put' }>) => ToPrimary | undefined;
  /** On `activity`; default counters with `served` = the worker's id. */
  activity?: (worker: FakeWorker, message: Extract<ToWorker, { t: 'activity' }>) => ToPrimary | undefined;
  /** On `close`: true (default) exits with code 0. */
  exitOnClose?: boolean;
}

const nextTick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Counters a simulated worker reports by default. */
export function activityOf(served: number, sni = 'a.example.test'): WireActivity {
  return { served, passed: 1, rejected: 0, servedBySni: [[sni, served]] };
}

/** One simulated worker process. */
export class FakeWorker implements WorkerHandle {
  readonly received: ToWorker[] = [];
  killed = false;
  #exited = false;
  readonly #messageListeners: ((message: unknown) => void)[] = [];
  readonly #exitListeners: ((code: number | null, signal: string | null) => void)[] = [];

  constructor(
    readonly id: number,
    readonly behaviour: FakeBehaviour,
  ) {
    void nextTick().then(() => this.say((behaviour.forked ?? (() => ({ t: 'hello' })))(this)));
  }

  get pid(): number {
    return 100_000 + this.id;
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Messages received of one type. */
  got<T extends ToWorker['t']>(type: T): Extract<ToWorker, { t: T }>[] {
    return this.received.filter((message): message is Extract<ToWorker, { t: T }> => message.t === type);
  }

  send(message: ToWorker): void {
    if (this.#exited) return;
    this.received.push(message);
    const { behaviour } = this;
    switch (message.t) {
      case 'init':
        this.later((behaviour.init ?? (() => ({ t: 'ready', addresses: [{ host: '127.0.0.1', port: 4430 }] })))(this, message));
        return;
      case 'put':
        this.later((behaviour.put ?? ((_, put) => ({ t: 'ack', id: put.id })))(this, message));
        return;
      case 'activity':
        this.later((behaviour.activity ?? ((worker, request) => ({ t: 'activity', id: request.id, activity: activityOf(worker.id) })))(this, message));
        return;
      case 'close':
        if (behaviour.exitOnClose ?? true) void nextTick().then(() => this.exit(0, null));
        return;
      default:
    }
  }

  kill(): void {
    this.killed = true;
    void nextTick().then(() => this.exit(null, 'SIGKILL'));
  }

  /** Sends a message to the primary now (undefined: nothing). */
  say(message: ToPrimary | undefined): void {
    if (message === undefined || this.#exited) return;
    for (const listener of this.#messageListeners) listener(message);
  }

  /** Sends a message to the primary asynchronously, as IPC does. */
  later(message: ToPrimary | undefined): void {
    void nextTick().then(() => this.say(message));
  }

  /** The process ends (once). */
  exit(code: number | null, signal: string | null): void {
    if (this.#exited) return;
    this.#exited = true;
    for (const listener of this.#exitListeners.splice(0)) listener(code, signal);
  }

  onMessage(listener: (message: unknown) => void): void {
    this.#messageListeners.push(listener);
  }

  onExit(listener: (code: number | null, signal: string | null) => void): void {
    this.#exitListeners.push(listener);
  }

  onError(): void {
    // A simulated channel has no transport errors.
  }
}

/** A {@link WorkerChannel} of simulated workers; `behave` picks each one's behaviour by its fork number (1, 2, ...). */
export class FakeChannel implements WorkerChannel {
  readonly workers: FakeWorker[] = [];

  constructor(private readonly behave: (n: number) => FakeBehaviour = () => ({})) {}

  fork(): FakeWorker {
    const id = this.workers.length + 1;
    const worker = new FakeWorker(id, this.behave(id));
    this.workers.push(worker);
    return worker;
  }

  /** The workers that have not exited. */
  get alive(): FakeWorker[] {
    return this.workers.filter((worker) => !worker.exited);
  }
}
