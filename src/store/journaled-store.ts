/**
 * A {@link ChallengeStore} that survives restarts: the memory store does the work, and every deploy, clean and
 * expiry is written to a state file before it is acknowledged. At start the file is loaded back.
 */
import { EventEmitter } from 'node:events';
import type { Identifier } from '../challenge/identifier.js';
import { hasCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { Challenge } from '../challenge/challenge.js';
import type { ChallengeStore, ChallengeStoreEvents } from './challenge-store.js';
import type { FileJournal } from './file-journal.js';
import { MemoryChallengeStore } from './memory-store.js';
import { decodeState, encodeState, type DecodedState } from './state-format.js';

/** Options of {@link JournaledChallengeStore.open}. */
export interface JournaledStoreOptions {
  readonly journal: FileJournal;
  /** Most challenges held at once, as for the memory store; also bounds how many are loaded. */
  readonly maxChallenges: number;
  readonly log: Logger;
}

/** Callers waiting for the same write. */
interface Batch {
  readonly done: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

function newBatch(): Batch {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Expiry-only writes have no waiting caller; their failure is logged by the writer, not left unhandled.
  done.catch(() => undefined);
  return { done, resolve, reject };
}

/**
 * Memory store plus state file. `put` and `delete` resolve only once a write that includes them is durable, so
 * nothing acknowledged is lost to SIGKILL or power loss. Writes coalesce: one is in flight at a time and the next
 * carries every change made meanwhile, so a burst of deploys costs two fsyncs, not one each. A failed write rejects
 * its callers with ERR_STATE_WRITE_FAILED and rolls their changes back, so memory matches the file again.
 */
export class JournaledChallengeStore extends EventEmitter<ChallengeStoreEvents> implements ChallengeStore {
  readonly #memory: MemoryChallengeStore;
  readonly #journal: FileJournal;
  readonly #log: Logger;
  /** What the file holds since the last successful write, by SNI (each name's deploys, oldest first): where a
   * failed write rolls back to. */
  #durable = new Map<string, Challenge[]>();
  /** Change counter, and per SNI the counter at its last change not yet known to be written. */
  #changes = 0;
  readonly #changedAt = new Map<string, number>();
  /** The write that callers arriving now will wait for; it starts once the one in flight ends. */
  #next: Batch | undefined;
  #writing = false;
  #closed = false;

  private constructor(options: JournaledStoreOptions) {
    super();
    this.#journal = options.journal;
    this.#log = options.log;
    this.#memory = new MemoryChallengeStore({ maxChallenges: options.maxChallenges });
    this.#memory.on('put', (challenge) => {
      this.#mark(challenge.identifier.sni);
      this.emit('put', challenge);
    });
    this.#memory.on('delete', (sni, reason) => {
      this.#mark(sni);
      this.emit('delete', sni, reason);
      // An expiry has no caller to wait for it, but a restart must not bring the challenge back.
      if (reason === 'expired') void this.#flush();
    });
    this.#memory.on('stack', (sni) => {
      this.#mark(sni);
      this.emit('stack', sni);
    });
  }

  /**
   * Removes temp files a killed daemon left, loads the state file (a missing one means an empty store; an unusable
   * one is logged once as `event=state-corrupt`, moved aside, and replaced by an empty store), then writes the state
   * back so expired entries leave the file and a state directory that cannot be written is reported now, not at the
   * first deploy. Call it with the privileges the daemon serves with: that first write is the proof they suffice.
   *
   * @throws AlpnResponderError ERR_STATE_WRITE_FAILED when that first write fails; ERR_STATE_SYMLINK or
   *   ERR_STATE_UNREADABLE (see {@link FileJournal.read}).
   */
  static async open(options: JournaledStoreOptions): Promise<JournaledChallengeStore> {
    const store = new JournaledChallengeStore(options);
    try {
      const loaded = await store.#load();
      await store.#flush();
      // Logged once the state is known to be writable: no `state-loaded` right before a start that fails.
      loaded();
    } catch (error) {
      await store.#memory.close();
      throw error;
    }
    return store;
  }

  get size(): number {
    return this.#memory.size;
  }

  async put(identifier: Identifier, digest: Uint8Array, ttlSeconds: number): Promise<Challenge> {
    const before = this.#changes;
    const stored = this.#memory.put(identifier, digest, ttlSeconds);
    const written = this.#joinWriteIfChanged(before);
    const challenge = await stored;
    await written;
    return challenge;
  }

  async delete(sni: string, digest?: Uint8Array): Promise<boolean> {
    const before = this.#changes;
    const removed = this.#memory.delete(sni, digest);
    const written = this.#joinWriteIfChanged(before);
    if (!(await removed)) return false;
    await written;
    return true;
  }

  get(sni: string): Challenge | undefined {
    return this.#memory.get(sni);
  }

  list(): Challenge[] {
    return this.#memory.list();
  }

  listAll(): Challenge[] {
    return this.#memory.listAll();
  }

  /** Writes the final state (a failure is logged, not thrown), then stops the timers; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#flush().catch(() => undefined);
    await this.#memory.close();
  }

  /**
   * Called in the same tick as a memory change (the memory store changes synchronously inside its async methods):
   * joining the next write before anything else runs guarantees that write's snapshot holds the change and that
   * its failure, which rolls the change back, reaches this caller. No change (a refused or empty operation), no
   * write.
   */
  #joinWriteIfChanged(changesBefore: number): Promise<void> | undefined {
    return this.#changes === changesBefore ? undefined : this.#flush();
  }

  #mark(sni: string): void {
    this.#changedAt.set(sni, ++this.#changes);
  }

  /** Loads the file; returns the `state-loaded` log line to write once the first write has succeeded. */
  async #load(): Promise<() => void> {
    const path = this.#journal.path;
    const removed = await this.#journal.removeStaleTemps();
    if (removed.length > 0) this.#log.log('info', 'state-temp-removed', { path, files: removed });
    let decoded: DecodedState;
    try {
      const bytes = await this.#journal.read();
      if (bytes === undefined) {
        return () => this.#log.log('info', 'state-loaded', { path, restored: 0, expired: 0, new: true });
      }
      decoded = decodeState(bytes, new Date());
    } catch (error) {
      // A link or a file the serving user may not open is not ours to move: start-up stops, the operator decides.
      if (!hasCode(error, 'ERR_STATE_CORRUPT')) throw error;
      const reason = error.message;
      let movedTo: string | undefined;
      let moveError: string | undefined;
      try {
        movedTo = await this.#journal.moveAside(new Date());
      } catch (moveFailure) {
        moveError = (moveFailure as Error).message;
      }
      this.#log.log('warn', 'state-corrupt', { path, reason, moved_to: movedTo, move_error: moveError, restored: 0 });
      return () => undefined;
    }
    let expired = decoded.expired;
    let dropped = 0;
    for (const challenge of decoded.challenges) {
      // Remaining life by the wall clock, which is what the file records; from here on the monotonic clock rules.
      const remainingMs = challenge.expiresAt.getTime() - Date.now();
      if (remainingMs <= 0) {
        expired++;
        continue;
      }
      try {
        await this.#memory.put(challenge.identifier, challenge.digest, remainingMs / 1000);
      } catch (error) {
        if (!hasCode(error, 'ERR_TOO_MANY_CHALLENGES')) throw error;
        dropped++;
      }
    }
    const restored = this.#memory.size;
    return () =>
      this.#log.log(dropped > 0 ? 'warn' : 'info', 'state-loaded', {
        path,
        restored,
        expired,
        // More entries than --max-challenges allows now (it was lowered): the rest are not served.
        dropped: dropped > 0 ? dropped : undefined,
      });
  }

  /** Resolves once a write that includes every change made so far is durable. */
  #flush(): Promise<void> {
    const batch = (this.#next ??= newBatch());
    if (!this.#writing) void this.#drain();
    return batch.done;
  }

  async #drain(): Promise<void> {
    this.#writing = true;
    while (this.#next) {
      const batch = this.#next;
      this.#next = undefined;
      // Changes numbered up to here are in this write's snapshot; later ones wait for the next write.
      const upTo = this.#changes;
      const snapshot = this.#memory.listAll();
      try {
        await this.#journal.write(encodeState(snapshot));
        this.#durable = byName(snapshot);
        for (const [sni, at] of this.#changedAt) if (at <= upTo) this.#changedAt.delete(sni);
        batch.resolve();
      } catch (error) {
        const rolledBack = await this.#rollBack(upTo);
        this.#log.log('error', 'state-write-failed', { path: this.#journal.path, error: (error as Error).message, rolled_back: rolledBack });
        batch.reject(error);
      }
    }
    this.#writing = false;
  }

  /**
   * Puts every name changed by a failed write back to the deploys the file holds (those that expired meanwhile stay
   * gone). Names changed after that write began are left alone: the next write carries them. Returns how many names
   * were rolled back.
   */
  async #rollBack(upTo: number): Promise<number> {
    let count = 0;
    for (const [sni, at] of [...this.#changedAt]) {
      if (at > upTo) continue;
      this.#changedAt.delete(sni);
      const keep = (this.#durable.get(sni) ?? []).filter((challenge) => challenge.expiresAt.getTime() > Date.now());
      const current = this.#memory.stack(sni);
      if (keep.length === current.length && keep.every((challenge, index) => challenge === current[index])) continue;
      count++;
      await this.#memory.delete(sni);
      const restored: Challenge[] = [];
      try {
        for (const challenge of keep) {
          restored.push(await this.#memory.put(challenge.identifier, challenge.digest, (challenge.expiresAt.getTime() - Date.now()) / 1000));
        }
      } catch {
        // Only ERR_TOO_MANY_CHALLENGES: a newer deploy took the slot; the file still has the old entry until the
        // next write, which follows memory.
      }
      if (restored.length > 0) this.#durable.set(sni, restored);
      else this.#durable.delete(sni);
    }
    return count;
  }
}

/** Deploys grouped by name, each name's in the order given. */
function byName(challenges: readonly Challenge[]): Map<string, Challenge[]> {
  const names = new Map<string, Challenge[]>();
  for (const challenge of challenges) {
    const sni = challenge.identifier.sni;
    names.set(sni, [...(names.get(sni) ?? []), challenge]);
  }
  return names;
}
