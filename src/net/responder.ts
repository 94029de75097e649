import type net from 'node:net';
import tls from 'node:tls';
import { ACME_TLS_ALPN } from '../constants.js';
import { Deadlines } from './deadlines.js';

/** How a challenge handshake ended. */
export type HandshakeOutcome =
  | { readonly ok: true; readonly protocol: string }
  | { readonly ok: false; readonly reason: string };

/** The one protocol offered, in ALPN wire form (a length byte, then the name): encoded once, not per handshake. */
const ALPN = Buffer.from([ACME_TLS_ALPN.length, ...Buffer.from(ACME_TLS_ALPN, 'latin1')]);

/** What a handshake past its time limit is destroyed with, so that its outcome can say so. */
const HANDSHAKE_TIMEOUT = new Error('handshake timeout');

/** The time limits of every challenge handshake in the process, on one timer (see {@link Deadlines}). */
const handshakes = new Deadlines<tls.TLSSocket>((secure) => secure.destroy(HANDSHAKE_TIMEOUT));

/**
 * Completes the `acme-tls/1` handshake on a connection whose ClientHello was already read (and is replayed from
 * `buffered`), presenting the challenge certificate from `context`, then closes: RFC 8737 §3, "Once the handshake
 * is completed, the client MUST NOT exchange any further data with the server and MUST immediately close the
 * connection", so nothing is gained by waiting.
 */
export function serveChallenge(
  socket: net.Socket,
  buffered: Buffer,
  context: tls.SecureContext,
  timeoutMs: number,
): Promise<HandshakeOutcome> {
  return new Promise((resolve) => {
    // The TLS socket takes this setting over. A challenge client has nothing to send after its handshake, so its
    // FIN ends the connection at once — even mid-handshake (a client that drops the socket before its Finished
    // went out) — instead of leaving it half open until the time limit.
    socket.allowHalfOpen = false;
    socket.unshift(buffered);
    const secure = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: context,
      // The router only sends clients that offered acme-tls/1, so this is always the protocol selected.
      ALPNProtocols: ALPN,
      requestCert: false,
    });
    let settled = false;
    const settle = (outcome: HandshakeOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    // Bounds the whole life of the connection, including a client that never closes after the handshake.
    handshakes.add(secure, timeoutMs);
    secure.on('secure', () => {
      const protocol = secure.getProtocol() ?? 'unknown';
      if (secure.alpnProtocol !== ACME_TLS_ALPN) {
        settle({ ok: false, reason: 'alpn-not-negotiated' });
        secure.destroy();
        return;
      }
      settle({ ok: true, protocol });
      // Read (and drop) whatever the client still sends — its close_notify, a stray byte — or its FIN is never seen
      // and the connection lingers until its time limit.
      secure.resume();
      secure.end();
    });
    secure.on('error', (error: NodeJS.ErrnoException) => {
      settle({ ok: false, reason: error === HANDSHAKE_TIMEOUT ? 'handshake-timeout' : `tls-error:${error.code ?? error.message}` });
      secure.destroy();
    });
    secure.on('close', () => {
      handshakes.delete(secure);
      // The client closed before its Finished arrived. If the daemon's flight (the certificate with it) went out, the
      // client may well have checked the certificate (a TLS 1.3 client has it before it sends its Finished) but never
      // completed the handshake: say so, without counting it served, which the daemon cannot know. Go's crypto/tls
      // (the CAs) sends its Finished before Handshake() returns, so a real CA is counted served.
      settle({ ok: false, reason: socket.bytesWritten > 0 ? 'closed-before-client-finished' : 'closed-during-handshake' });
    });
  });
}
