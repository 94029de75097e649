import { performance } from 'node:perf_hooks';

/**
 * Time limits for many items (connections) with one timer, instead of a timer object per item.
 *
 * Items given the same limit expire in the order they were added, so each limit keeps its items in one map, in
 * insertion order, and only the oldest of each needs looking at: adding and removing an item are map operations,
 * and the one timer is set for the earliest deadline. Under load (a handshake a millisecond, or thousands of idle
 * connections) that saves a timer object, a timer-list update and often a native timer call per item. An expired
 * item is reported within a millisecond or so of its deadline, as with `setTimeout`.
 *
 * The timer is unref'd: the items themselves (open sockets) keep the process alive while they matter.
 */
export class Deadlines<T> {
  readonly #onExpire: (item: T, started: number) => void;
  readonly #now: () => number;
  /** Items by their limit in milliseconds, each with the time (of the clock) its limit started at. */
  readonly #byLimit = new Map<number, Map<T, number>>();
  #timer: NodeJS.Timeout | undefined;
  /** When {@link #timer} fires, or Infinity when it is not set. */
  #timerAt = Infinity;
  readonly #fire = (): void => this.#expire();

  /**
   * @param onExpire Hears of each item whose limit passed (it is removed first), with when its limit started.
   * @param now The clock, in milliseconds; `performance.now()` unless a test runs it on a fake one.
   */
  constructor(onExpire: (item: T, started: number) => void, now: () => number = () => performance.now()) {
    this.#onExpire = onExpire;
    this.#now = now;
  }

  /**
   * Starts a limit of `limitMs` for `item`, which must not have one running; returns the time (of the clock) it
   * started at.
   */
  add(item: T, limitMs: number): number {
    let items = this.#byLimit.get(limitMs);
    if (items === undefined) {
      items = new Map();
      this.#byLimit.set(limitMs, items);
    }
    const now = this.#now();
    items.set(item, now);
    this.#arm(now + limitMs);
    return now;
  }

  /** Ends `item`'s limit; returns when it started, or undefined when it had none running. */
  delete(item: T): number | undefined {
    for (const items of this.#byLimit.values()) {
      const started = items.get(item);
      if (started !== undefined) {
        items.delete(item);
        return started;
      }
    }
    return undefined;
  }

  /** Makes the timer fire by `at`, unless it fires sooner already. */
  #arm(at: number): void {
    if (at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(at - this.#now()))).unref();
  }

  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.#now();
    const expired: [T, number][] = [];
    let next = Infinity;
    for (const [limit, items] of this.#byLimit) {
      for (const [item, started] of items) {
        if (started + limit > now) {
          next = Math.min(next, started + limit);
          break;
        }
        items.delete(item);
        expired.push([item, started]);
      }
      // A limit no longer in use (after a reload) is dropped; one in use keeps its map.
      if (items.size === 0) this.#byLimit.delete(limit);
    }
    if (next !== Infinity) this.#arm(next);
    for (const [item, started] of expired) this.#onExpire(item, started);
  }
}
