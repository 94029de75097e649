import type net from 'node:net';
import type { ParseResult } from '../parse-result.js';
import { clientHelloBytesWanted, parseClientHello, type ClientHello } from '../tls/client-hello.js';
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

/**
 * Reads from a fresh connection until it holds one complete ClientHello, however it was split over TCP segments
 * or TLS records, and never past `maxBytes` or `timeoutMs`. With `expectProxyHeader`, a PROXY v1/v2 header must
 * come first (from a front proxy); `onProxyHeader` hears of it as soon as it is parsed, so the client it names can
 * be counted before its hello arrives. The socket is left paused with nothing consumed beyond what was read.
 */
export function readClientHello(
  socket: net.Socket,
  limits: HelloLimits,
  expectProxyHeader = false,
  onProxyHeader?: (header: ProxyHeader) => void,
): Promise<HelloOutcome> {
  return new Promise((resolve) => {
    let chunks: Buffer[] = [];
    let size = 0;
    let proxy: ProxyHeader | undefined;
    // Where the TLS bytes start: after the PROXY header once it is parsed.
    let offset = 0;
    // Parse only once the bytes the framing asks for are here: a hello sent a byte at a time is parsed a few
    // times per record, not once per byte.
    let wanted = 1;
    const all = (): Buffer => {
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
    const stop = (kind: 'too-large' | 'timeout' | 'closed'): void => finish({ kind, proxy, buffered: all().subarray(offset) });
    const fail = (result: ParseResult<unknown> & { status: 'invalid' }, prefix: string): void =>
      finish({ kind: 'invalid', reason: `${prefix}${result.reason}`, proxy, buffered: all().subarray(offset) });
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      // The cap bounds what is buffered while waiting: a read that completes the hello may carry more (early data
      // for a backend), so it is parsed before the size is judged.
      if (size < wanted) return size > limits.maxBytes ? stop('too-large') : undefined;
      const bytes = all();
      if (expectProxyHeader && proxy === undefined) {
        const header = parseProxyHeader(bytes);
        if (header.status === 'invalid') return fail(header, 'proxy-header: ');
        if (header.status === 'incomplete') return size > limits.maxBytes ? stop('too-large') : undefined;
        proxy = header.value;
        offset = header.length;
        onProxyHeader?.(proxy);
        // The callback may have closed the connection (its client is over a limit): read no further.
        if (socket.destroyed) return;
      }
      const tlsBytes = bytes.subarray(offset);
      const result = parseClientHello(tlsBytes);
      if (result.status === 'complete') return finish({ kind: 'hello', hello: result.value, proxy, buffered: tlsBytes });
      if (result.status === 'invalid') return fail(result, '');
      if (size > limits.maxBytes) return stop('too-large');
      wanted = offset + clientHelloBytesWanted(tlsBytes);
    };
    const onEnd = (): void => stop('closed');
    const timer = setTimeout(() => stop('timeout'), limits.timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}
