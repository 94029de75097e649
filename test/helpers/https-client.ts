/**
 * A verifying HTTPS client for tests against real web servers, over HTTP/1.1 or h2, that can send a PROXY
 * header in clear before the TLS handshake (as a front would).
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';

/** Options of {@link httpsGet}. */
export interface HttpsGetOptions {
  /** Address to connect to. */
  host: string;
  port: number;
  /** SNI, `Host`/`:authority`, and the name the certificate must be valid for. */
  servername: string;
  path: string;
  /** h2 (ALPN `h2` only) instead of HTTP/1.1 (ALPN `http/1.1` only). */
  http2?: boolean;
  /** PEM of the CA (or self-signed certificate) that must verify the server. */
  ca: string | Buffer;
  /** Written on the TCP connection before the ClientHello, e.g. a hand-made PROXY v1 or v2 header. */
  proxyHeader?: string | Uint8Array;
  /** Whole exchange, connect to last body byte; 10 s by default. */
  timeoutMs?: number;
}

/** What {@link httpsGet} got back. */
export interface HttpsResponse {
  status: number;
  body: Buffer;
  /** ALPN result of the handshake (`h2`, `http/1.1`), or '' when the server chose none. */
  protocol: string;
  /** The verified server certificate. */
  peerCertificate: tls.PeerCertificate;
  /** Client side port of the connection, to match against a PROXY header or an access log. */
  localPort: number;
}

function connectTls(raw: net.Socket, options: HttpsGetOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    // Queued until connected, so it reaches the server ahead of the ClientHello.
    if (options.proxyHeader !== undefined) raw.write(options.proxyHeader);
    const socket = tls.connect({
      socket: raw,
      servername: options.servername,
      ca: options.ca,
      ALPNProtocols: [options.http2 ? 'h2' : 'http/1.1'],
    });
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
    raw.once('error', reject);
  });
}

function getHttp1(socket: tls.TLSSocket, options: HttpsGetOptions): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        // No `agent`: with one (even `false`) Node ignores createConnection and dials on its own.
        createConnection: () => socket,
        path: options.path,
        headers: { host: options.servername },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end();
  });
}

function getHttp2(socket: tls.TLSSocket, options: HttpsGetOptions): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://${options.servername}:${options.port}`, { createConnection: () => socket });
    session.on('error', reject);
    const stream = session.request({ ':method': 'GET', ':path': options.path });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      session.close();
      resolve({ status, body: Buffer.concat(chunks) });
    });
    stream.on('error', reject);
  });
}

/**
 * GET over TLS with full certificate verification against `ca` and `servername`, over HTTP/1.1 or h2 depending
 * on `http2`, the only protocol offered. Rejects on any TLS, HTTP or timeout error; the connection is always
 * closed afterwards.
 */
export async function httpsGet(options: HttpsGetOptions): Promise<HttpsResponse> {
  // A hang guard; an answer normally comes in milliseconds.
  const timeoutMs = options.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const raw = net.connect({ host: options.host, port: options.port });
  let socket: tls.TLSSocket | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`GET ${options.path} on ${options.host}:${options.port}: no full answer within ${timeoutMs} ms`)), timeoutMs);
  });
  const exchange = async (): Promise<HttpsResponse> => {
    socket = await connectTls(raw, options);
    const peerCertificate = socket.getPeerCertificate();
    const protocol = socket.alpnProtocol || '';
    const localPort = socket.localPort ?? 0;
    const { status, body } = await (options.http2 ? getHttp2 : getHttp1)(socket, options);
    return { status, body, protocol, peerCertificate, localPort };
  };
  try {
    return await Promise.race([exchange(), timeout]);
  } finally {
    clearTimeout(timer);
    socket?.destroy();
    // Also when the handshake never finished.
    raw.destroy();
  }
}
