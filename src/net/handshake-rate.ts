import { TokenBucket } from '../token-bucket.js';

/** `--handshake-rate` and `--handshake-burst`: challenge handshakes one source may start. */
export interface HandshakeRateLimits {
  /** Tokens added to a source's bucket per second. */
  readonly perSecond: number;
  /** Most tokens a bucket holds: handshakes a quiet source may start at once. */
  readonly burst: number;
}

/** Sources tracked at most; past it the longest-tracked is forgotten (and starts again with a full burst). */
const MAX_SOURCES = 65_536;
/** How often buckets that have refilled are dropped (a full bucket is the same as none). */
const SWEEP_INTERVAL_MS = 10_000;

/**
 * A token bucket per source (see source-key.ts) on challenge handshakes: each costs the daemon a key exchange and a
 * signature, which one source replaying a captured ClientHello could otherwise demand as fast as it can connect,
 * starving everyone else of CPU (the CA included). Memory stays bounded: buckets that have refilled are dropped
 * every {@link SWEEP_INTERVAL_MS}, and at most {@link MAX_SOURCES} are kept.
 */
export class HandshakeRate {
  #limits: HandshakeRateLimits;
  readonly #now: () => number;
  readonly #buckets = new Map<string, TokenBucket>();
  #swept: number;

  /** `now` returns milliseconds (injectable for tests). */
  constructor(limits: HandshakeRateLimits, now: () => number = () => performance.now()) {
    this.#limits = limits;
    this.#now = now;
    this.#swept = now();
  }

  /** New limits (SIGHUP): every source starts again with a full bucket. */
  reconfigure(limits: HandshakeRateLimits): void {
    this.#limits = limits;
    this.#buckets.clear();
  }

  /** Sources tracked now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes a handshake from `source`'s bucket: false when it has none left (refuse the connection). */
  allow(source: string): boolean {
    if (this.#now() - this.#swept >= SWEEP_INTERVAL_MS) this.#sweep();
    let bucket = this.#buckets.get(source);
    if (bucket === undefined) {
      if (this.#buckets.size >= MAX_SOURCES) this.#buckets.delete(this.#buckets.keys().next().value as string);
      bucket = new TokenBucket(this.#limits.perSecond, this.#limits.burst, this.#now);
      this.#buckets.set(source, bucket);
    }
    return bucket.tryTake();
  }

  #sweep(): void {
    this.#swept = this.#now();
    for (const [source, bucket] of this.#buckets) if (bucket.full()) this.#buckets.delete(source);
  }
}
