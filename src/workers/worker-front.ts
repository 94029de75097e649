/** The TLS port served by worker processes (`--workers N`), as the daemon drives it. */
import type { Activity } from '../net/activity.js';
import type { Front } from '../net/front.js';
import type { ListenAddress } from '../net/listen-address.js';
import type { WireConnectionSettings } from '../net/tls-port-settings.js';
import type { StartGate } from '../start-gate.js';
import type { WorkerPool } from './worker-pool.js';

/** A {@link Front} over a {@link WorkerPool}: certificates go to every worker, counters come from all of them. */
export class WorkerFront implements Front {
  /** The workers count their own connections. */
  readonly open = undefined;

  /** The workers hold the connections they accept until `gate` opens (start-up complete), then serve them. */
  constructor(
    private readonly pool: WorkerPool,
    gate: StartGate,
  ) {
    void gate.through(
      () => pool.open(),
      () => undefined,
    );
  }

  get sink(): WorkerPool {
    return this.pool;
  }

  get serving(): number {
    return this.pool.serving;
  }

  get listeners(): { readonly addresses: readonly ListenAddress[] } {
    return this.pool;
  }

  start(): Promise<void> {
    return this.pool.start();
  }

  activity(): Promise<Activity> {
    return this.pool.activity();
  }

  reconfigure(settings: WireConnectionSettings): void {
    this.pool.configure(settings);
  }

  close(timeoutMs: number): Promise<void> {
    return this.pool.close(timeoutMs);
  }
}
