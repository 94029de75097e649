import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Identifier } from '../challenge/identifier.js';
import { AlpnResponderError } from '../errors.js';
import type { Challenge, ChallengeStore, ChallengeStoreEvents } from './challenge-store.js';

interface Entry {
  readonly challenge: Challenge;
  /** Monotonic deadline (performance.now() milliseconds). */
  readonly deadline: number;
  readonly timer: NodeJS.Timeout;
}

/** Options of {@link MemoryChallengeStore}. */
export interface MemoryStoreOptions {
  /** Most challenges held at once; a deploy beyond it is refused. */
  readonly maxChallenges: number;
  /** Monotonic clock in milliseconds; tests may replace it. */
  readonly now?: () => number;
}

/** The default store: challenges in memory, each dropped by a timer when its TTL runs out. */
export class MemoryChallengeStore extends EventEmitter<ChallengeStoreEvents> implements ChallengeStore {
  readonly #entries = new Map<string, Entry>();
  readonly #maxChallenges: number;
  readonly #now: () => number;
  #closed = false;

  constructor(options: MemoryStoreOptions) {
    super();
    this.#maxChallenges = options.maxChallenges;
    this.#now = options.now ?? (() => performance.now());
  }

  get size(): number {
    return this.#entries.size;
  }

  async put(identifier: Identifier, digest: Uint8Array, ttlSeconds: number): Promise<Challenge> {
    const key = identifier.sni;
    const previous = this.#entries.get(key);
    if (!previous && this.#entries.size >= this.#maxChallenges) {
      throw new AlpnResponderError(
        'ERR_TOO_MANY_CHALLENGES',
        `${this.#entries.size} challenges are deployed, the most allowed; clean some or raise --max-challenges`,
      );
    }
    if (previous) clearTimeout(previous.timer);
    const ttlMs = ttlSeconds * 1000;
    const challenge: Challenge = { identifier, digest: Uint8Array.from(digest), expiresAt: new Date(Date.now() + ttlMs) };
    const timer = setTimeout(() => this.#expire(key, challenge), ttlMs);
    timer.unref();
    this.#entries.set(key, { challenge, deadline: this.#now() + ttlMs, timer });
    this.emit('put', challenge);
    return challenge;
  }

  async delete(sni: string): Promise<boolean> {
    const entry = this.#entries.get(sni);
    if (!entry) return false;
    clearTimeout(entry.timer);
    this.#entries.delete(sni);
    this.emit('delete', sni, 'clean');
    return true;
  }

  get(sni: string): Challenge | undefined {
    const entry = this.#entries.get(sni);
    if (!entry) return undefined;
    // A timer can fire late under load; the deadline is the truth.
    if (this.#now() >= entry.deadline) {
      this.#expire(sni, entry.challenge);
      return undefined;
    }
    return entry.challenge;
  }

  list(): Challenge[] {
    return [...this.#entries.keys()].flatMap((key) => this.get(key) ?? []);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#entries.values()) clearTimeout(entry.timer);
  }

  #expire(key: string, challenge: Challenge): void {
    const entry = this.#entries.get(key);
    if (!entry || entry.challenge !== challenge) return;
    clearTimeout(entry.timer);
    this.#entries.delete(key);
    this.emit('delete', key, 'expired');
  }
}
