import net from 'node:net';

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

/**
 * Passes a client connection to a backend untouched: the bytes already read (the ClientHello) first, then both
 * directions piped with backpressure. Each direction half-closes on its own (a FIN from one side ends only the
 * other side's writing); an error or reset on either side, or the idle timeout, tears down both.
 * The client socket must come from a server with `allowHalfOpen: true`.
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
      clearTimeout(connectTimer);
      resolve({
        ok: reason === undefined,
        reason,
        bytesUp: backend.bytesWritten,
        bytesDown: client.bytesWritten,
      });
    };
    const connectTimer = setTimeout(() => teardown('backend-connect-timeout'), options.connectTimeoutMs);
    client.on('error', (error: NodeJS.ErrnoException) => teardown(`client-${error.code ?? 'error'}`));
    backend.on('error', (error: NodeJS.ErrnoException) =>
      teardown(connected ? `backend-${error.code ?? 'error'}` : `backend-unreachable:${error.code ?? 'error'}`),
    );
    client.on('close', onClose('client', client));
    backend.on('close', onClose('backend', backend));
    backend.once('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      client.setTimeout(options.idleTimeoutMs, () => teardown('idle-timeout'));
      backend.setTimeout(options.idleTimeoutMs, () => teardown('idle-timeout'));
      if (options.preamble) backend.write(options.preamble);
      backend.write(buffered);
      client.pipe(backend);
      backend.pipe(client);
      client.resume();
    });
  });
}
