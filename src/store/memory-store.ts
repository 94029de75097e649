import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { bytesEqual } from '../bytes.js';
import type { Identifier } from '../challenge/identifier.js';
import { MAX_DEPLOYS_PER_NAME } from '../constants.js';
import { AlpnResponderError } from '../errors.js';
import type { Challenge } from '../challenge/challenge.js';
import type { ChallengeStore, ChallengeStoreEvents, RemovalReason } from './challenge-store.js';

interface Entry {
  readonly challenge: Challenge;
  /** Monotonic deadline (performance.now() milliseconds). */
  readonly deadline: number;
  readonly timer: NodeJS.Timeout;
}

/** Options of {@link MemoryChallengeStore}. */
export interface MemoryStoreOptions {
  /** Most names served at once; a deploy for a new name beyond it is refused. */
  readonly maxChallenges: number;
  /** Monotonic clock in milliseconds; tests may replace it. */
  readonly now?: () => number;
}

/**
 * The default store: challenges in memory, each dropped by a timer when its TTL runs out. Per name, a short stack
 * of deploys, oldest first; the last live one is served (see {@link ChallengeStore}).
 */
export class MemoryChallengeStore extends EventEmitter<ChallengeStoreEvents> implements ChallengeStore {
  /** Per SNI, its deploys oldest first; never empty. */
  readonly #names = new Map<string, Entry[]>();
  readonly #maxChallenges: number;
  readonly #now: () => number;
  #closed = false;

  constructor(options: MemoryStoreOptions) {
    super();
    this.#maxChallenges = options.maxChallenges;
    this.#now = options.now ?? (() => performance.now());
  }

  get size(): number {
    return this.#names.size;
  }

  async put(identifier: Identifier, digest: Uint8Array, ttlSeconds: number): Promise<Challenge> {
    const key = identifier.sni;
    const stack = this.#names.get(key) ?? [];
    if (stack.length === 0 && this.#names.size >= this.#maxChallenges) {
      throw new AlpnResponderError(
        'ERR_TOO_MANY_CHALLENGES',
        `${this.#names.size} challenges are deployed, the most allowed; clean some or raise --max-challenges`,
      );
    }
    const same = stack.findIndex((entry) => bytesEqual(entry.challenge.digest, digest));
    // The same digest again is the same deploy, newest now; a new one beyond the bound pushes the oldest out.
    const dropped = same !== -1 ? stack.splice(same, 1) : stack.length >= MAX_DEPLOYS_PER_NAME ? stack.splice(0, 1) : [];
    for (const entry of dropped) clearTimeout(entry.timer);
    const ttlMs = ttlSeconds * 1000;
    const challenge: Challenge = { identifier, digest: Uint8Array.from(digest), expiresAt: new Date(Date.now() + ttlMs) };
    const timer = setTimeout(() => this.#expire(key, challenge), ttlMs);
    timer.unref();
    stack.push({ challenge, deadline: this.#now() + ttlMs, timer });
    this.#names.set(key, stack);
    this.emit('put', challenge);
    return challenge;
  }

  async delete(sni: string, digest?: Uint8Array): Promise<boolean> {
    const stack = this.#names.get(sni);
    if (!stack) return false;
    if (digest === undefined) {
      for (const entry of stack) clearTimeout(entry.timer);
      this.#names.delete(sni);
      this.emit('delete', sni, 'clean');
      return true;
    }
    const index = stack.findIndex((entry) => bytesEqual(entry.challenge.digest, digest));
    if (index === -1) return false;
    this.#remove(sni, stack, index, 'clean');
    return true;
  }

  get(sni: string): Challenge | undefined {
    for (;;) {
      const stack = this.#names.get(sni);
      const top = stack?.at(-1);
      if (!stack || !top) return undefined;
      // A timer can fire late under load; the deadline is the truth.
      if (this.#now() < top.deadline) return top.challenge;
      this.#remove(sni, stack, stack.length - 1, 'expired');
    }
  }

  /** The live deploys of one name, oldest first (the last one is served). */
  stack(sni: string): Challenge[] {
    if (this.get(sni) === undefined) return [];
    const now = this.#now();
    return (this.#names.get(sni) ?? []).filter((entry) => entry.deadline > now).map((entry) => entry.challenge);
  }

  list(): Challenge[] {
    return [...this.#names.keys()].flatMap((key) => this.get(key) ?? []);
  }

  listAll(): Challenge[] {
    return [...this.#names.keys()].flatMap((key) => this.stack(key));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const stack of this.#names.values()) for (const entry of stack) clearTimeout(entry.timer);
  }

  #expire(key: string, challenge: Challenge): void {
    const stack = this.#names.get(key);
    const index = stack?.findIndex((entry) => entry.challenge === challenge) ?? -1;
    if (stack && index !== -1) this.#remove(key, stack, index, 'expired');
  }

  /**
   * Removes one deploy and says what that changed: nothing served any more (`delete`), an older deploy served again
   * (`put`, once any that expired meanwhile are gone too), or only the stack (`stack`).
   */
  #remove(key: string, stack: Entry[], index: number, reason: RemovalReason): void {
    const wasServed = index === stack.length - 1;
    const [removed] = stack.splice(index, 1);
    if (removed) clearTimeout(removed.timer);
    if (wasServed) {
      const now = this.#now();
      while (stack.length > 0 && stack[stack.length - 1]!.deadline <= now) clearTimeout(stack.pop()!.timer);
    }
    const top = stack.at(-1);
    if (top === undefined) {
      this.#names.delete(key);
      this.emit('delete', key, reason);
    } else if (wasServed) {
      this.emit('put', top.challenge);
    } else {
      this.emit('stack', key);
    }
  }
}
