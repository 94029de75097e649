import type net from 'node:net';
import { clientHelloBytesWanted, parseClientHello, type ClientHello } from '../tls/client-hello.js';

/** What reading the start of a connection produced. `buffered` holds every byte read, to replay. */
export type HelloOutcome =
  | { readonly kind: 'hello'; readonly hello: ClientHello; readonly buffered: Buffer }
  | { readonly kind: 'invalid'; readonly reason: string; readonly buffered: Buffer }
  | { readonly kind: 'too-large'; readonly buffered: Buffer }
  | { readonly kind: 'timeout'; readonly buffered: Buffer }
  | { readonly kind: 'closed'; readonly buffered: Buffer };

/** Bounds on reading a ClientHello. */
export interface HelloLimits {
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

/**
 * Reads from a fresh connection until it holds one complete ClientHello, however it was split over TCP segments
 * or TLS records, and never past `maxBytes` or `timeoutMs`. The socket is left paused with nothing consumed beyond
 * `buffered`, so the caller can replay those bytes to a TLS stack or a backend.
 */
export function readClientHello(socket: net.Socket, limits: HelloLimits): Promise<HelloOutcome> {
  return new Promise((resolve) => {
    let chunks: Buffer[] = [];
    let size = 0;
    // Parse only once the bytes the framing asks for are here: a hello sent a byte at a time is parsed a few
    // times per record, not once per byte.
    let wanted = 1;
    const buffered = (): Buffer => {
      if (chunks.length !== 1) chunks = [Buffer.concat(chunks, size)];
      return chunks[0] as Buffer;
    };
    const finish = (outcome: HelloOutcome): void => {
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limits.maxBytes) return finish({ kind: 'too-large', buffered: buffered() });
      if (size >= wanted) {
        const bytes = buffered();
        const result = parseClientHello(bytes);
        if (result.status === 'complete') return finish({ kind: 'hello', hello: result.value, buffered: bytes });
        if (result.status === 'invalid') return finish({ kind: 'invalid', reason: result.reason, buffered: bytes });
        wanted = clientHelloBytesWanted(bytes);
      }
    };
    const onEnd = (): void => finish({ kind: 'closed', buffered: buffered() });
    const timer = setTimeout(() => finish({ kind: 'timeout', buffered: buffered() }), limits.timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}
