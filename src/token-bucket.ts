/**
 * A token bucket: `ratePerSecond` tokens a second, up to `burst` saved up. Each action takes one token; when none is
 * left, {@link TokenBucket.take} says how long to wait for the next, so a caller can delay instead of refusing;
 * {@link TokenBucket.tryTake} says no instead, so a caller can refuse.
 */
export class TokenBucket {
  readonly #ratePerSecond: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #updated: number;

  /** `now` returns milliseconds (injectable for tests). */
  constructor(ratePerSecond: number, burst: number = ratePerSecond, now: () => number = () => performance.now()) {
    this.#ratePerSecond = ratePerSecond;
    this.#burst = Math.max(1, burst);
    this.#now = now;
    this.#tokens = this.#burst;
    this.#updated = now();
  }

  /**
   * Takes a token: returns 0 if one was there, else the milliseconds until it will be. The token is taken either
   * way (the balance goes negative), so callers that wait the returned time are served in turn at the set rate.
   */
  take(): number {
    this.#refill();
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.#ratePerSecond;
  }

  /** Takes a token if there is one: true if taken; false, with nothing taken, when the bucket is empty (refuse). */
  tryTake(): boolean {
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** True once the bucket has refilled to its burst: it then remembers nothing and may be dropped. */
  full(): boolean {
    this.#refill();
    return this.#tokens >= this.#burst;
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#updated) * this.#ratePerSecond) / 1000);
    this.#updated = now;
  }
}
