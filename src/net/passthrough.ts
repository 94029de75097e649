import net from 'node:net';
import { Deadlines } from './deadlines.js';

/** How a passed-through connection ended. */
export interface PassthroughOutcome {
  readonly ok: boolean;
  /** Why it ended, when not by both sides closing in turn. */
  readonly reason: string | undefined;
  /** Bytes from the client to the backend, replayed hello included. */
  readonly bytesUp: number;
  /** Bytes from the backend to the client. */
  readonly bytesDown: number;
}

/**
 * True when a passed-through connection ended because of the backend, not the client: it could not be reached (or
 * not in time), or it reset the connection. The operator must hear of these (`warn`); a client's own errors are
 * everyday noise.
 */
export function isBackendFailure(reason: string | undefined): boolean {
  return reason !== undefined && (reason.startsWith('backend-unreachable') || reason === 'backend-connect-timeout' || reason === 'backend-ECONNRESET');
}

/** Where and how to pass a connection on. */
export interface PassthroughOptions {
  readonly host: string;
  readonly port: number;
  /** Sent before anything else, e.g. a PROXY protocol header. */
  readonly preamble: Uint8Array | undefined;
  readonly connectTimeoutMs: number;
  /** A connection with no traffic in either direction for this long is closed. */
  readonly idleTimeoutMs: number;
}

/** What a backend connection still connecting at its time limit is destroyed with, so the outcome can say so. */
const CONNECT_TIMEOUT = new Error('backend connect timeout');

/** Backend connections still connecting, on one timer (see {@link Deadlines}). */
const connecting = new Deadlines<net.Socket>((backend) => backend.destroy(CONNECT_TIMEOUT));

/**
 * Relays one direction with backpressure: what `from` sends is written to `to`, `from` paused while `to` is full,
 * and `from`'s FIN passed on as `to`'s. What `pipe()` does, with the three listeners this needs (a pipe adds a dozen
 * to the two sockets, and every connection pays for them).
 */
function relay(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

/**
 * Passes a client connection to a backend untouched: the bytes already read (the ClientHello) first, then both
 * directions relayed with backpressure. Each direction half-closes on its own (a FIN from one side ends only the
 * other side's writing); an error or reset on either side, or the idle timeout, tears down both.
 * The client socket must come from a server with `allowHalfOpen: true`, and be paused.
 *
 * The client is listened to from the start, not from when the backend has connected: a paused socket still reports
 * its FIN ('end') once nothing is left to read, and a client that sent its hello, its request and its FIN at once
 * (the reader took the request along with the hello) has nothing left to read. Writes and the FIN to a backend still
 * connecting are queued by the socket and go out in order once it connects; the client is read only from then on.
 */
export function passThrough(client: net.Socket, buffered: Buffer, options: PassthroughOptions): Promise<PassthroughOutcome> {
  return new Promise((resolve) => {
    const backend = net.connect({ host: options.host, port: options.port, noDelay: true, allowHalfOpen: true });
    let reason: string | undefined;
    let connected = false;
    let closed = 0;
    const teardown = (why: string): void => {
      reason ??= why;
      client.destroy();
      backend.destroy();
    };
    const onClose = (side: 'client' | 'backend', socket: net.Socket) => (): void => {
      // Closed without both directions finishing (destroyed at shutdown, say): the other side must not linger.
      if (!(socket.readableEnded && socket.writableFinished)) teardown(`${side}-closed`);
      if (++closed < 2) return;
      connecting.delete(backend);
      resolve({
        ok: reason === undefined,
        reason,
        // A socket counts what it queued: nothing went up to a backend that never connected.
        bytesUp: connected ? backend.bytesWritten : 0,
        bytesDown: client.bytesWritten,
      });
    };
    connecting.add(backend, options.connectTimeoutMs);
    if (options.preamble) backend.write(options.preamble);
    backend.write(buffered);
    relay(client, backend);
    relay(backend, client);
    client.on('error', (error: NodeJS.ErrnoException) => teardown(`client-${error.code ?? 'error'}`));
    backend.on('error', (error: NodeJS.ErrnoException) => {
      if (error === CONNECT_TIMEOUT) teardown('backend-connect-timeout');
      else teardown(connected ? `backend-${error.code ?? 'error'}` : `backend-unreachable:${error.code ?? 'error'}`);
    });
    client.on('close', onClose('client', client));
    backend.on('close', onClose('backend', backend));
    backend.once('connect', () => {
      connected = true;
      connecting.delete(backend);
      // Every byte relayed is read from or written to the client, so its timer alone sees traffic either way.
      client.setTimeout(options.idleTimeoutMs, () => teardown('idle-timeout'));
      client.resume();
    });
  });
}
