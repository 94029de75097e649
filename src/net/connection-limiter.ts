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

/**
 * Counts open connections, in total and per source, and decides who may stay when the caps are reached.
 *
 * At the total cap, a new connection is not simply refused: the oldest connections that have not yet sent a
 * complete ClientHello are evicted to make room. Idle and slow-sending connections cost an attacker nothing to
 * hold, while a CA sends its hello at once; so a slowloris flood can fill the table but never lock the CA out, and
 * a connection already past its hello (a handshake or passthrough in progress) is never dropped for a newcomer.
 * Only when every slot is past its hello is the newcomer refused.
 *
 * Generic over the connection object so it stays free of sockets; release is idempotent, and evicted connections
 * are released here at once (their close events come later).
 */
export class ConnectionLimiter<T> {
  #limits: ConnectionLimits;
  /** Every open connection and the source it counts under (undefined: not known yet, see {@link reattribute}). */
  readonly #sources = new Map<T, string | undefined>();
  readonly #perSource = new Map<string, number>();
  /** Connections without a complete hello yet, oldest first (a Set iterates in insertion order). */
  readonly #waiting = new Set<T>();

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
    const evicted: T[] = [];
    for (const oldest of this.#waiting) {
      if (this.#sources.size - evicted.length < this.#limits.maxConnections) break;
      evicted.push(oldest);
    }
    if (this.#sources.size - evicted.length >= this.#limits.maxConnections) return { ok: false, reason: 'max-connections' };
    for (const victim of evicted) this.release(victim);
    this.#enter(connection, source);
    return { ok: true, evicted };
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

  /** The connection has sent a complete ClientHello: it is no longer evictable. */
  helloComplete(connection: T): void {
    this.#waiting.delete(connection);
  }

  /** The connection is gone (or evicted); idempotent. */
  release(connection: T): void {
    this.#waiting.delete(connection);
    if (this.#sources.has(connection)) this.#uncount(connection, this.#sources.get(connection));
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
