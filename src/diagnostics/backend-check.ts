/**
 * The doctor's look at each `--backend`: ordinary TLS is passed there, so it must accept a TCP connection and speak
 * TLS — after a PROXY header when the daemon sends one (`--backend-proxy-protocol`), and without one otherwise.
 * A backend that cannot be reached does not fail the CA's validation (acme-tls/1 never goes there), so problems
 * are warnings: the site is down, not the certificate.
 */
import net from 'node:net';
import tls from 'node:tls';
import { parseBackends } from '../net/backends.js';
import { formatListenAddress, parseListenAddress, type ListenAddress } from '../net/listen-address.js';
import { formatProxyHeaderV1, formatProxyHeaderV2, proxyAddressFromSocket } from '../net/proxy-header.js';
import type { Check } from './checklist.js';

/** What was configured. */
export interface BackendOptions {
  /** `--backend` values: `HOST:PORT`, `NAME=HOST:PORT`, `*.DOMAIN=HOST:PORT`. */
  readonly backends: readonly string[];
  readonly proxyProtocol?: 'v1' | 'v2';
  readonly timeoutMs: number;
}

type Outcome = { readonly ok: true; readonly protocol: string } | { readonly ok: false; readonly stage: 'connect' | 'tls'; readonly why: string };

/** Connects as the daemon does (PROXY header first when configured) and shakes hands with TLS; never rejects. */
function tryBackend(address: ListenAddress, servername: string | undefined, proxyProtocol: 'v1' | 'v2' | undefined, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    let client: tls.TLSSocket | undefined;
    const socket = net.connect({ host: address.host, port: address.port });
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client?.destroy();
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(
      () => settle(client === undefined ? { ok: false, stage: 'connect', why: `no connection within ${timeoutMs / 1000} s` } : { ok: false, stage: 'tls', why: `no TLS handshake within ${timeoutMs / 1000} s` }),
      timeoutMs,
    );
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (client === undefined) settle({ ok: false, stage: 'connect', why: error.code ?? error.message });
    });
    socket.once('connect', () => {
      if (proxyProtocol !== undefined) {
        const address = proxyAddressFromSocket(socket.localAddress ?? '127.0.0.1', socket.localPort ?? 0, socket.remoteAddress ?? '127.0.0.1', socket.remotePort ?? 0);
        socket.write(proxyProtocol === 'v2' ? formatProxyHeaderV2(address) : formatProxyHeaderV1(address));
      }
      client = tls.connect({ socket, ...(servername === undefined ? {} : { servername }), ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: false });
      client.once('secureConnect', () => settle({ ok: true, protocol: client?.getProtocol() ?? 'TLS' }));
      client.on('error', (error: NodeJS.ErrnoException) => {
        // OpenSSL's words for a first answer that is no TLS record (an HTTP response, a banner).
        const why = /wrong version number|packet length too long|unknown protocol/i.test(error.message) ? 'it answered with something that is not TLS (plain HTTP?)' : /alert/i.test(error.message) ? `it refused the handshake (${error.message.replace(/^.*?(alert [^:]*|SSL alert number \d+).*$/s, '$1')})` : error.code === 'ECONNRESET' ? 'it reset the connection' : `the handshake failed (${error.code ?? error.message})`;
        settle({ ok: false, stage: 'tls', why });
      });
      client.once('close', () => settle({ ok: false, stage: 'tls', why: 'it closed the connection without a TLS handshake' }));
    });
  });
}

/** One line per backend address (a name of a rule is used as the SNI, as a client of that name would send). */
export async function checkBackends(options: BackendOptions): Promise<Check[]> {
  if (options.backends.length === 0) return [];
  let rules: { name: string | undefined; address: ListenAddress }[];
  try {
    parseBackends(options.backends);
    rules = options.backends.map((text) => {
      const equals = text.indexOf('=');
      const name = equals === -1 ? undefined : text.slice(0, equals).replace(/^\*\./, 'www.');
      return { name, address: parseListenAddress(equals === -1 ? text : text.slice(equals + 1)) };
    });
  } catch (error) {
    return [{ id: 'backend', status: 'fail', title: `backend: ${(error as Error).message}`, remedy: 'Give --backend as HOST:PORT, NAME=HOST:PORT or *.DOMAIN=HOST:PORT, as serve takes it.' }];
  }
  const expects = options.proxyProtocol === undefined ? 'TLS' : `a PROXY ${options.proxyProtocol} header, then TLS`;
  return Promise.all(
    rules.map(async ({ name, address }): Promise<Check> => {
      const where = `backend ${name === undefined ? '' : `${name}=`}${formatListenAddress(address)}`;
      const outcome = await tryBackend(address, name, options.proxyProtocol, options.timeoutMs);
      if (outcome.ok) return { id: 'backend', status: 'pass', title: `${where} accepts ${expects} (${outcome.protocol})` };
      if (outcome.stage === 'connect') {
        return {
          id: 'backend',
          status: 'warn',
          title: `${where} is unreachable (${outcome.why}): ordinary HTTPS through the daemon fails, challenges do not`,
          remedy: `Start the web server on ${formatListenAddress(address)}, or point --backend at where it listens.`,
        };
      }
      const remedy =
        options.proxyProtocol === undefined
          ? 'If the backend expects a PROXY header (nginx `listen … proxy_protocol`, HAProxy `accept-proxy`), start the daemon with --backend-proxy-protocol v1 or v2; otherwise make it serve TLS there.'
          : `The daemon sends a PROXY ${options.proxyProtocol} header first: enable it on the backend (nginx \`listen … ssl proxy_protocol\`, HAProxy \`accept-proxy\`), or start the daemon without --backend-proxy-protocol.`;
      return { id: 'backend', status: 'warn', title: `${where} does not speak ${expects}: ${outcome.why}`, remedy };
    }),
  );
}
