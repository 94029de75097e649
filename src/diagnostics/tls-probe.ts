/**
 * One connection attempt as the CA's TLS client makes it: TCP to one address, a TLS 1.2+ handshake offering only
 * `acme-tls/1` with the given SNI, no certificate verification, and one deadline for connect and handshake
 * together (Boulder's single dial timeout). Reports what happened in the terms Boulder's wording depends on.
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { ACME_TLS_ALPN } from '../constants.js';
import type { ProbeFailure } from './ca-texts.js';

/** Where and how to connect. */
export interface ProbeOptions {
  readonly address: string;
  readonly port: number;
  readonly servername: string;
  readonly timeoutMs: number;
}

/** A completed handshake, or how the attempt failed. */
export type ProbeResult =
  | {
      readonly ok: true;
      /** The leaf certificate, or undefined if the server sent none. */
      readonly der: Uint8Array | undefined;
      readonly alpn: string | false;
      readonly tlsVersion: string;
    }
  | { readonly ok: false; readonly failure: ProbeFailure };

/** A plain-HTTP server answers a ClientHello with `HTTP/1.x 400 …`; Boulder (Go) checks these first bytes. */
const HTTP_RESPONSE_START = Buffer.from('HTTP/', 'latin1');

/** Bytes of the server's first answer kept to name what answered when it is not TLS. */
const HEAD_BYTES = 24;

/** TLS record content types (RFC 8446 §5.1: change_cipher_spec 20 … heartbeat 24). */
const TLS_CONTENT_TYPES = new Set([20, 21, 22, 23, 24]);

/** OpenSSL ends the message of an error caused by a received alert with `SSL alert number N`. */
const RECEIVED_ALERT = /SSL alert number (\d+)/;

/**
 * Passes the TCP socket's bytes to the TLS client unchanged while keeping what the CA's wording depends on and
 * node:tls would hide: the first bytes the server sent, and whether it closed cleanly or reset the connection.
 */
class ObservedSocket extends Duplex {
  head = Buffer.alloc(0);
  peerClosed = false;
  error: NodeJS.ErrnoException | undefined;

  constructor(private readonly socket: net.Socket) {
    super();
    socket.on('data', (chunk: Buffer) => {
      if (this.head.length < HEAD_BYTES) this.head = Buffer.concat([this.head, chunk]).subarray(0, HEAD_BYTES);
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => {
      this.peerClosed = true;
      this.push(null);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.error = error;
      this.destroy(error);
    });
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.socket.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}

/** Connects, shakes hands, and closes again the way the CA does (close_notify, then FIN). Never rejects. */
export function probe(options: ProbeOptions): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let tlsSocket: tls.TLSSocket | undefined;
    const socket = net.connect({ host: options.address, port: options.port });

    const settle = (result: ProbeResult): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const fail = (failure: ProbeFailure): void => {
      settle({ ok: false, failure });
      tlsSocket?.destroy();
      socket.destroy();
    };
    // One deadline for the whole attempt; after a success it only bounds how long closing may take.
    const deadline = setTimeout(() => {
      const phase = tlsSocket === undefined ? 'connect' : 'handshake';
      fail({ phase, reason: 'timeout', message: `no ${phase === 'connect' ? 'connection' : 'handshake'} within ${options.timeoutMs} ms` });
    }, options.timeoutMs);
    socket.on('close', () => clearTimeout(deadline));

    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (tlsSocket === undefined) fail({ phase: 'connect', reason: connectFailure(error.code), message: error.message });
    });
    socket.once('connect', () => {
      socket.setNoDelay(true);
      const seen = new ObservedSocket(socket);
      tlsSocket = tls.connect({
        socket: seen,
        servername: options.servername,
        ALPNProtocols: [ACME_TLS_ALPN],
        minVersion: 'TLSv1.2',
        rejectUnauthorized: false,
      });
      const client = tlsSocket;
      client.once('secureConnect', () => {
        settle({
          ok: true,
          der: client.getPeerX509Certificate()?.raw,
          alpn: client.alpnProtocol ?? false,
          tlsVersion: client.getProtocol() ?? 'unknown',
        });
        client.end();
        // Closing goes on in the background, bounded by the deadline; it must not keep a CLI process alive.
        socket.unref();
        deadline.unref();
      });
      client.on('error', (error: Error) => fail(handshakeFailure(error, seen)));
      client.once('close', () => fail(handshakeFailure(new Error('connection closed during the handshake'), seen)));
    });
  });
}

function connectFailure(code: string | undefined): Extract<ProbeFailure, { phase: 'connect' }>['reason'] {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ENETUNREACH':
      return 'network-unreachable';
    case 'ECONNRESET':
      return 'reset';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return 'other';
  }
}

/** Sorts a failed handshake the way Go's client and Boulder would see it. */
function handshakeFailure(error: Error, observed: ObservedSocket): ProbeFailure {
  const message = error.message.trim();
  const { head } = observed;
  if (head.subarray(0, HTTP_RESPONSE_START.length).equals(HTTP_RESPONSE_START)) return { phase: 'handshake', reason: 'http', message };
  if (head.length > 0 && !TLS_CONTENT_TYPES.has(head[0] as number)) {
    return { phase: 'handshake', reason: 'not-tls', head: printable(head), message };
  }
  const alert = RECEIVED_ALERT.exec(message);
  if (alert !== null) return { phase: 'handshake', reason: 'alert', alert: Number(alert[1]), message };
  if (observed.error?.code === 'ECONNRESET') return { phase: 'handshake', reason: 'reset', message };
  if (observed.peerClosed) return { phase: 'handshake', reason: 'closed', message };
  return { phase: 'handshake', reason: 'other', message };
}

/** `<!DOCTYPE HTML>\n<htm` with control bytes as `\xNN`, for a hint. */
function printable(bytes: Buffer): string {
  return [...bytes].map((b) => (b === 10 ? '\\n' : b === 13 ? '\\r' : b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}
