import type net from 'node:net';
import type { ParseResult } from '../parse-result.js';
import { clientHelloBytesWanted, parseClientHello, type ClientHello } from '../tls/client-hello.js';
import { Deadlines } from './deadlines.js';
import { parseProxyHeader, type ProxyHeader } from './proxy-header.js';

/**
 * What reading the start of a connection produced. `buffered` holds the bytes read after any PROXY header, to
 * replay to a TLS stack or a backend.
 */
export type HelloOutcome =
  | { readonly kind: 'hello'; readonly hello: ClientHello; readonly proxy: ProxyHeader | undefined; readonly buffered: Buffer }
  | { readonly kind: 'invalid'; readonly reason: string; readonly proxy: ProxyHeader | undefined; readonly buffered: Buffer }
  | { readonly kind: 'too-large' | 'timeout' | 'closed'; readonly proxy: ProxyHeader | undefined; readonly buffered: Buffer };

/** Bounds on reading a ClientHello. */
export interface HelloLimits {
  /** Most bytes read, PROXY header included. */
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

/** How connections are read; one object is shared by every connection read the same way. */
export interface HelloSettings {
  readonly limits: HelloLimits;
  /** A PROXY v1/v2 header must come first (the connection comes from a front proxy). */
  readonly expectProxyHeader: boolean;
}

/** What a {@link HelloReader} reports to its owner. */
export interface HelloReaderEvents<S extends HelloSettings> {
  /**
   * Reading `socket` is over: it stopped listening to the socket and paused it. A paused socket still emits 'end'
   * when its FIN arrives with nothing left to read: whoever takes it over must listen for it at once. `started` is the
   * `performance.now()` at which reading began, `settings` what {@link HelloReader.read} was given.
   */
  readonly outcome: (socket: net.Socket, outcome: HelloOutcome, started: number, settings: S) => void;
  /**
   * A PROXY header was parsed, before the hello is complete (so the client it names can be counted at once). If the
   * listener destroys the socket, nothing more is read.
   */
  readonly proxyHeader?: (socket: net.Socket, header: ProxyHeader) => void;
}

/** A connection that sent part of its hello: the bytes so far, and where its parsing stands. */
class PartialHello<S> {
  chunks: Buffer[];
  size: number;
  proxy: ProxyHeader | undefined = undefined;
  /** Where the TLS bytes start: after the PROXY header once it is parsed. */
  offset = 0;
  /** Bytes needed before parsing again (so a hello sent a byte at a time is parsed a few times, not once a byte). */
  wanted = 1;

  constructor(
    readonly settings: S,
    first: Buffer,
  ) {
    this.chunks = [first];
    this.size = first.length;
  }

  /** The bytes read so far as one buffer (concatenated once, then kept whole). */
  joined(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks, this.size)];
    return this.chunks[0] as Buffer;
  }
}

/** `buffered` of a connection that sent nothing (a Buffer of length 0 cannot be written to, so one is shared). */
const NOTHING = Buffer.alloc(0);

/**
 * Reads the ClientHello of many connections at once: from each until it holds one complete hello, however split over
 * TCP segments or TLS records, and never past its `maxBytes` or `timeoutMs`.
 *
 * Built for connections that send nothing for a long time (a slowloris flood holds thousands): until its first bytes
 * arrive a connection costs two map entries. The listeners are shared functions, not closures per connection, and
 * the time limits are kept by {@link Deadlines} (one timer) rather than a timer per connection.
 *
 * The owner must call {@link closed} when a socket being read closes (so the socket needs no second close listener).
 */
export class HelloReader<S extends HelloSettings> {
  readonly #events: HelloReaderEvents<S>;
  /** Connections being read: their settings until their first bytes arrive, then what they sent. */
  readonly #pending = new Map<net.Socket, S | PartialHello<S>>();
  readonly #deadlines = new Deadlines<net.Socket>((socket, started) => this.#expire(socket, started));
  readonly #onData: (this: net.Socket, chunk: Buffer) => void;
  readonly #onEnd: (this: net.Socket) => void;

  constructor(events: HelloReaderEvents<S>) {
    this.#events = events;
    // Plain functions, not arrows: EventEmitter calls them with the socket as `this`.
    const reader = this;
    this.#onData = function (this: net.Socket, chunk: Buffer): void {
      reader.#data(this, chunk);
    };
    this.#onEnd = function (this: net.Socket): void {
      reader.closed(this);
    };
  }

  /**
   * Starts reading a fresh connection; its outcome is reported once. The socket is left paused with nothing
   * consumed beyond what was read (which is in the outcome's `buffered`).
   */
  read(socket: net.Socket, settings: S): void {
    this.#pending.set(socket, settings);
    this.#deadlines.add(socket, settings.limits.timeoutMs);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
  }

  /** The socket closed (or sent its FIN): if it is still being read, its outcome is `closed`. */
  closed(socket: net.Socket): void {
    const state = this.#pending.get(socket);
    if (state !== undefined) this.#stop(socket, state, 'closed');
  }

  #expire(socket: net.Socket, started: number): void {
    const state = this.#pending.get(socket);
    if (state !== undefined) this.#stop(socket, state, 'timeout', started);
  }

  #data(socket: net.Socket, chunk: Buffer): void {
    const state = this.#pending.get(socket);
    if (state === undefined) return;
    if (state instanceof PartialHello) {
      state.chunks.push(chunk);
      state.size += chunk.length;
      return this.#examine(socket, state);
    }
    // The first bytes, usually the whole hello: parsed where they are, without a copy.
    const partial = new PartialHello(state, chunk);
    this.#pending.set(socket, partial);
    this.#examine(socket, partial);
  }

  #examine(socket: net.Socket, state: PartialHello<S>): void {
    const { limits, expectProxyHeader } = state.settings;
    // The cap bounds what is buffered while waiting: a read that completes the hello may carry more (early data for
    // a backend), so it is parsed before the size is judged.
    if (state.size < state.wanted) return state.size > limits.maxBytes ? this.#stop(socket, state, 'too-large') : undefined;
    const bytes = state.joined();
    if (expectProxyHeader && state.proxy === undefined) {
      const header = parseProxyHeader(bytes);
      if (header.status === 'invalid') return this.#fail(socket, state, header, 'proxy-header: ');
      if (header.status === 'incomplete') return state.size > limits.maxBytes ? this.#stop(socket, state, 'too-large') : undefined;
      state.proxy = header.value;
      state.offset = header.length;
      this.#events.proxyHeader?.(socket, header.value);
      // The listener may have closed the connection (its client is over a limit): read no further.
      if (socket.destroyed) return;
    }
    const tlsBytes = bytes.subarray(state.offset);
    const result = parseClientHello(tlsBytes);
    if (result.status === 'complete') {
      return this.#finish(socket, state.settings, { kind: 'hello', hello: result.value, proxy: state.proxy, buffered: tlsBytes });
    }
    if (result.status === 'invalid') return this.#fail(socket, state, result, '');
    if (state.size > limits.maxBytes) return this.#stop(socket, state, 'too-large');
    state.wanted = state.offset + clientHelloBytesWanted(tlsBytes);
  }

  #fail(socket: net.Socket, state: PartialHello<S>, result: ParseResult<unknown> & { status: 'invalid' }, prefix: string): void {
    const buffered = state.joined().subarray(state.offset);
    this.#finish(socket, state.settings, { kind: 'invalid', reason: `${prefix}${result.reason}`, proxy: state.proxy, buffered });
  }

  #stop(socket: net.Socket, state: S | PartialHello<S>, kind: 'too-large' | 'timeout' | 'closed', started?: number): void {
    if (state instanceof PartialHello) {
      const outcome = { kind, proxy: state.proxy, buffered: state.joined().subarray(state.offset) };
      this.#finish(socket, state.settings, outcome, started);
    } else {
      this.#finish(socket, state, { kind, proxy: undefined, buffered: NOTHING }, started);
    }
  }

  /** Reports an outcome; `started` is given when the connection's deadline is gone already (it expired). */
  #finish(socket: net.Socket, settings: S, outcome: HelloOutcome, started?: number): void {
    this.#pending.delete(socket);
    // Every connection being read has a deadline running until here.
    const began = started ?? (this.#deadlines.delete(socket) as number);
    socket.pause();
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    this.#events.outcome(socket, outcome, began, settings);
  }
}
