import type net from 'node:net';
import tls from 'node:tls';
import { ACME_TLS_ALPN } from '../constants.js';

/** How a challenge handshake ended. */
export type HandshakeOutcome =
  | { readonly ok: true; readonly protocol: string }
  | { readonly ok: false; readonly reason: string };

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
    socket.unshift(buffered);
    const secure = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: context,
      // The router only sends clients that offered acme-tls/1, so this is always the protocol selected.
      ALPNProtocols: [ACME_TLS_ALPN],
      requestCert: false,
    });
    let settled = false;
    const settle = (outcome: HandshakeOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    // Bounds the whole life of the connection, including a client that never closes after the handshake.
    const timer = setTimeout(() => {
      settle({ ok: false, reason: 'handshake-timeout' });
      secure.destroy();
    }, timeoutMs);
    secure.on('secure', () => {
      const protocol = secure.getProtocol() ?? 'unknown';
      if (secure.alpnProtocol !== ACME_TLS_ALPN) {
        settle({ ok: false, reason: 'alpn-not-negotiated' });
        secure.destroy();
        return;
      }
      settle({ ok: true, protocol });
      // Read (and drop) whatever the client still sends — its close_notify, a stray byte — or its FIN is never seen
      // and the connection lingers until the timer above.
      secure.resume();
      secure.end();
    });
    secure.on('error', (error: NodeJS.ErrnoException) => {
      settle({ ok: false, reason: `tls-error:${error.code ?? error.message}` });
      secure.destroy();
    });
    secure.on('close', () => {
      clearTimeout(timer);
      settle({ ok: false, reason: 'closed-during-handshake' });
    });
  });
}
