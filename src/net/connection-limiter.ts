/** Caps on concurrent TLS-port connections. */
export interface ConnectionLimits {
  /** Most connections open at once, all sources together. */
  readonly maxConnections: number;
  /** Most connections open at once from one source (see source-key.ts). */
  readonly maxPerSource: number;
}

/** Why a connection was refused. */
export type LimitReason = 'max-connections' | 'max-connections-per-source';

/** The verdict on a new connection; `evicted` must be closed by the caller. */
export type Admission<T> = { readonly ok: true; readonly evicted: readonly T[] } | { readonly ok: false; readonly reason: LimitReason };

/** Admission below the cap (nearly always): one shared object, as it runs for every accepted connection. */
const ADMITTED: Admission<never> = Object.freeze({ ok: true, evicted: Object.freeze([]) });
const FULL: Admission<never> = Object.freeze({ ok: false, reason: 'max-connections' });
const NONE: readonly never[] = Object.freeze([]);

/**
 * Connections admitted over `--max-connections` when nobody can be evicted, so a CA can still be heard: one per 16
 * of the cap (at least one). Their fate is decided at their hello (see {@link ConnectionLimiter.challenge}).
 */
function overflowOf(limits: ConnectionLimits): number {
  return Math.ceil(limits.maxConnections / 16);
}

/**
 * Counts open connections, in total and per source, and decides who may stay when the caps are reached. Handshakes
 * for deployed names (the CA's) are preferred over everything else.
 *
 * At the total cap, a new connection is not simply refused: the oldest connections that have not yet sent a
 * complete ClientHello, or were refused after it, are evicted to make room. Idle and slow-sending connections cost
 * an attacker nothing to hold, while a CA sends its hello at once; so a slowloris flood can fill the table but never
 * lock the CA out. When every slot is past its hello, a newcomer is still admitted, a little over the cap (see
 * {@link overflowOf}), and judged by its hello: a challenge handshake stays, closing the oldest passed-through
 * connection if there is one; a connection for a backend is refused while the table is over the cap.
 *
 * Challenge handshakes in progress are shared fairly between sources. An attacker holding a deployed name can stall
 * handshakes (send a real `acme-tls/1` hello, never its Finished) from many addresses, each up to the per-source cap,
 * until the table and its overflow are full; the CA's perspectives each hold a handful. So when a newcomer would be
 * refused, or a challenge handshake is over the cap with no passed-through connection left to close, the oldest
 * handshake of the source holding the most connections is closed instead, if that source holds more than the
 * newcomer's would: an attacker's source holds many, so it is the one to give way, and a source never loses a
 * handshake to one holding as many as itself. (Connections with no source yet, see {@link admit}, are not shared
 * out this way.)
 *
 * Generic over the connection object so it stays free of sockets; release is idempotent, and evicted connections
 * are released here at once (their close events come later).
 */
export class ConnectionLimiter<T> {
  #limits: ConnectionLimits;
  /** Every open connection and the source it counts under (undefined: not known yet, see {@link reattribute}). */
  readonly #sources = new Map<T, string | undefined>();
  readonly #perSource = new Map<string, number>();
  /** Connections without a complete hello yet, or refused after it: evicted first, oldest first (insertion order). */
  readonly #waiting = new Set<T>();
  /** Connections passed to a backend: evicted, oldest first, for a challenge handshake over the cap. */
  readonly #passing = new Set<T>();
  /** Challenge handshakes in progress per source, oldest first: evicted from the heaviest source for fairness. */
  readonly #handshaking = new Map<string, Set<T>>();

  constructor(limits: ConnectionLimits) {
    this.#limits = limits;
  }

  /** New caps (SIGHUP); connections over them are not dropped, only new ones counted against them. */
  reconfigure(limits: ConnectionLimits): void {
    this.#limits = limits;
  }

  /** Connections counted now. */
  get size(): number {
    return this.#sources.size;
  }

  /**
   * Decides on a freshly accepted connection from `source`; when admitted it counts as waiting for its hello.
   * An undefined source (behind a front proxy, before its PROXY header) counts towards the total only.
   */
  admit(connection: T, source: string | undefined): Admission<T> {
    if (source !== undefined && (this.#perSource.get(source) ?? 0) >= this.#limits.maxPerSource) {
      return { ok: false, reason: 'max-connections-per-source' };
    }
    if (this.#sources.size < this.#limits.maxConnections) {
      this.#enter(connection, source);
      return ADMITTED;
    }
    const evicted = this.#oldest(this.#waiting, this.#sources.size - this.#limits.maxConnections + 1);
    if (this.#sources.size - evicted.length >= this.#limits.maxConnections + overflowOf(this.#limits)) {
      // Counting the newcomer, its source would hold one more.
      const victim = this.#fairShareVictim((source === undefined ? 0 : (this.#perSource.get(source) ?? 0)) + 1);
      if (victim === undefined) return FULL;
      evicted.push(victim);
      if (this.#sources.size - evicted.length >= this.#limits.maxConnections + overflowOf(this.#limits)) return FULL;
    }
    for (const victim of evicted) this.release(victim);
    this.#enter(connection, source);
    return evicted.length === 0 ? ADMITTED : { ok: true, evicted };
  }

  /**
   * The connection's hello was read and asks for a challenge handshake: it is no longer evicted as waiting, only as
   * the heaviest source's oldest handshake (see the class comment). Over the cap, the oldest passed-through
   * connections are closed to get back under it, then handshakes of sources holding more connections than this one's:
   * they are returned (released here; the caller closes them). A connection refused at its hello is not reported at
   * all: it stays first in line for eviction until it is gone.
   */
  challenge(connection: T): readonly T[] {
    if (!this.#waiting.delete(connection)) return NONE;
    const source = this.#sources.get(connection);
    if (source !== undefined) {
      const own = this.#handshaking.get(source);
      if (own === undefined) this.#handshaking.set(source, new Set([connection]));
      else own.add(connection);
    }
    const evicted = this.#oldest(this.#passing, this.#sources.size - this.#limits.maxConnections);
    for (const victim of evicted) this.release(victim);
    while (this.#sources.size > this.#limits.maxConnections) {
      const victim = this.#fairShareVictim(source === undefined ? 0 : (this.#perSource.get(source) ?? 0));
      if (victim === undefined) break;
      this.release(victim);
      evicted.push(victim);
    }
    return evicted;
  }

  /**
   * The oldest handshake of the source holding the most connections, if it holds more than `held` (so that it keeps
   * at least as many as the one it gives way to); scans the sources, which happens only with the table full.
   */
  #fairShareVictim(held: number): T | undefined {
    let most = held;
    let heaviest: ReadonlySet<T> | undefined;
    for (const [source, handshakes] of this.#handshaking) {
      const count = this.#perSource.get(source) ?? 0;
      if (count > most) {
        most = count;
        heaviest = handshakes;
      }
    }
    return heaviest === undefined ? undefined : this.#oldest(heaviest, 1)[0];
  }

  /**
   * The connection's hello was read and it goes to a backend: false (and the connection released) while the table is
   * over the cap (it was let in for a challenge handshake, see the class comment); else it is evicted, after the
   * connections still waiting, for challenge handshakes over the cap.
   */
  passThrough(connection: T): boolean {
    if (!this.#waiting.delete(connection)) return true;
    if (this.#sources.size > this.#limits.maxConnections) {
      this.release(connection);
      return false;
    }
    this.#passing.add(connection);
    return true;
  }

  /** The first `count` of `from` (the oldest), or all of them. */
  #oldest(from: ReadonlySet<T>, count: number): T[] {
    const oldest: T[] = [];
    if (count <= 0) return oldest;
    for (const connection of from) {
      oldest.push(connection);
      if (oldest.length === count) break;
    }
    return oldest;
  }

  /** Counts a new connection, as waiting for its hello. */
  #enter(connection: T, source: string | undefined): void {
    this.#count(connection, source);
    this.#waiting.add(connection);
  }

  /**
   * Counts a connection under another source from now on: the client address a PROXY header names, known only
   * after the header is read. False (and the connection released) when that source is at its cap.
   */
  reattribute(connection: T, source: string): boolean {
    if (!this.#sources.has(connection)) return true;
    const current = this.#sources.get(connection);
    if (current === source) return true;
    this.#uncount(connection, current);
    if ((this.#perSource.get(source) ?? 0) >= this.#limits.maxPerSource) {
      this.#waiting.delete(connection);
      return false;
    }
    this.#count(connection, source);
    return true;
  }

  /** The connection is gone (or evicted); idempotent. */
  release(connection: T): void {
    this.#waiting.delete(connection);
    this.#passing.delete(connection);
    if (!this.#sources.has(connection)) return;
    const source = this.#sources.get(connection);
    if (source !== undefined) {
      const handshakes = this.#handshaking.get(source);
      if (handshakes?.delete(connection) && handshakes.size === 0) this.#handshaking.delete(source);
    }
    this.#uncount(connection, source);
  }

  #count(connection: T, source: string | undefined): void {
    this.#sources.set(connection, source);
    if (source !== undefined) this.#perSource.set(source, (this.#perSource.get(source) ?? 0) + 1);
  }

  #uncount(connection: T, source: string | undefined): void {
    this.#sources.delete(connection);
    if (source === undefined) return;
    const left = (this.#perSource.get(source) ?? 1) - 1;
    if (left === 0) this.#perSource.delete(source);
    else this.#perSource.set(source, left);
  }
}
