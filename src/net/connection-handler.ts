import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger, LogValue } from '../log.js';
import type { ReadyChallenge } from '../store/certificate-cache.js';
import { encodeFatalAlert } from '../tls/alert.js';
import type { BackendTable } from './backends.js';
import { readClientHello, type HelloLimits } from './client-hello-reader.js';
import { formatListenAddress } from './listen-address.js';
import { passThrough } from './passthrough.js';
import {
  formatProxyHeaderV1,
  formatProxyHeaderV2,
  proxyAddressFromSocket,
  type ProxyAddress,
  type ProxyHeader,
} from './proxy-header.js';
import { serveChallenge } from './responder.js';
import { route } from './router.js';

/** PROXY protocol version sent to backends. */
export type ProxyProtocolVersion = 'v1' | 'v2';

/** What the connection handler needs from the rest of the daemon. */
export interface ConnectionHandlerOptions {
  readonly lookup: (sni: string) => ReadyChallenge | undefined;
  readonly backends: BackendTable;
  readonly log: Logger;
  readonly hello: HelloLimits;
  readonly handshakeTimeoutMs: number;
  /** Every connection must start with a PROXY v1/v2 header (the daemon sits behind a front proxy). */
  readonly acceptProxyProtocol: boolean;
  /** Prefix passed-through connections with a PROXY header of this version. */
  readonly backendProxyProtocol: ProxyProtocolVersion | undefined;
  readonly backendConnectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** How long a refused client may take to read the alert before the socket is dropped. */
  readonly lingerMs?: number;
}

/** Counters over every connection handled. */
export interface ConnectionStats {
  served: number;
  passed: number;
  rejected: number;
}

/** Refuses politely: the alert (if any), a FIN, and a hard close if the peer never hangs up. */
function refuse(socket: net.Socket, alert: number | undefined, lingerMs: number): void {
  socket.resume();
  if (alert === undefined) socket.end();
  else socket.end(encodeFatalAlert(alert));
  setTimeout(() => socket.destroy(), lingerMs).unref();
}

function endpoint(address: string | undefined, port: number | undefined): string {
  return address === undefined ? '?' : formatListenAddress({ host: address, port: port ?? 0 });
}

/** The client as the backend should see it: from the front proxy's header, else from the socket. */
function clientAddress(socket: net.Socket, proxy: ProxyHeader | undefined): ProxyAddress {
  return (
    proxy?.address ??
    proxyAddressFromSocket(socket.remoteAddress ?? '::', socket.remotePort ?? 0, socket.localAddress ?? '::', socket.localPort ?? 0)
  );
}

/**
 * Handles each accepted TCP connection: reads its ClientHello, routes it, and completes the challenge handshake,
 * passes it to a backend, or refuses it. Every connection ends in exactly one `connection` log event.
 */
export class ConnectionHandler {
  readonly stats: ConnectionStats = { served: 0, passed: 0, rejected: 0 };
  #options: ConnectionHandlerOptions;
  readonly #sockets = new Set<net.Socket>();
  readonly #whenEmpty: (() => void)[] = [];

  constructor(options: ConnectionHandlerOptions) {
    this.#options = options;
  }

  /** Number of connections open right now. */
  get active(): number {
    return this.#sockets.size;
  }

  /** Takes ownership of an accepted socket (from a server with `allowHalfOpen: true`). */
  handle(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.on('error', () => undefined); // Failures are reported through the outcome; a reset is routine here.
    socket.once('close', () => {
      this.#sockets.delete(socket);
      if (this.#sockets.size === 0) for (const notify of this.#whenEmpty.splice(0)) notify();
    });
    void this.#run(socket, performance.now());
  }

  /** Applies new settings (SIGHUP) to connections accepted from now on; open ones keep theirs. */
  reconfigure(options: ConnectionHandlerOptions): void {
    this.#options = options;
  }

  /** Resolves once no connection is open, or after `timeoutMs`, whichever comes first. */
  drain(timeoutMs: number): Promise<void> {
    if (this.#sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#whenEmpty.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Drops every open connection (shutdown). */
  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async #run(socket: net.Socket, started: number): Promise<void> {
    const options = this.#options;
    const peer = endpoint(socket.remoteAddress, socket.remotePort);
    const fields: Record<string, LogValue> = { remote: peer };
    const done = (outcome: string, more: Record<string, LogValue>): void => {
      options.log.log('info', 'connection', { ...fields, ...more, outcome, ms: (performance.now() - started).toFixed(1) });
    };
    const read = await readClientHello(socket, options.hello, options.acceptProxyProtocol);
    if (read.proxy?.address) {
      fields.remote = endpoint(read.proxy.address.sourceAddress, read.proxy.address.sourcePort);
      fields.via = peer;
    }
    if (read.kind !== 'hello') {
      this.stats.rejected++;
      refuse(socket, undefined, options.lingerMs ?? 2000);
      done('rejected', { reason: read.kind === 'invalid' ? `invalid-hello:${read.reason}` : read.kind });
      return;
    }
    const { hello } = read;
    fields.sni = hello.serverName;
    fields.alpn = hello.alpn.length > 0 ? hello.alpn.join(',') : undefined;
    const decision = route(hello, { challenge: options.lookup, backend: (name) => options.backends.lookup(name) });
    switch (decision.kind) {
      case 'reject': {
        this.stats.rejected++;
        refuse(socket, decision.alert, options.lingerMs ?? 2000);
        done('rejected', { reason: decision.reason });
        return;
      }
      case 'challenge': {
        const outcome = await serveChallenge(socket, read.buffered, decision.target.context, options.handshakeTimeoutMs);
        if (outcome.ok) {
          this.stats.served++;
          decision.target.served++;
          done('served', { tls: outcome.protocol });
        } else {
          this.stats.rejected++;
          done('failed', { reason: outcome.reason });
        }
        return;
      }
      case 'passthrough': {
        this.stats.passed++;
        const version = options.backendProxyProtocol;
        const address = version && clientAddress(socket, read.proxy);
        const outcome = await passThrough(socket, read.buffered, {
          host: decision.backend.host,
          port: decision.backend.port,
          preamble: address && (version === 'v2' ? formatProxyHeaderV2(address) : formatProxyHeaderV1(address)),
          connectTimeoutMs: options.backendConnectTimeoutMs,
          idleTimeoutMs: options.idleTimeoutMs,
        });
        done('passed', {
          backend: formatListenAddress(decision.backend),
          up: outcome.bytesUp,
          down: outcome.bytesDown,
          reason: outcome.reason,
        });
      }
    }
  }
}
