import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger, LogValue } from '../log.js';
import { RateLimitedLog } from '../rate-limited-log.js';
import type { ReadyChallenge } from './context-table.js';
import { ALERT, encodeFatalAlert } from '../tls/alert.js';
import type { BackendTable } from './backends.js';
import { HelloReader, type HelloLimits, type HelloOutcome, type HelloSettings } from './client-hello-reader.js';
import { ConnectionLimiter, type ConnectionLimits, type LimitReason } from './connection-limiter.js';
import { Deadlines } from './deadlines.js';
import { HandshakeRate, type HandshakeRateLimits } from './handshake-rate.js';
import { formatListenAddress, type ListenAddress } from './listen-address.js';
import { isBackendFailure, passThrough } from './passthrough.js';
import {
  formatProxyHeaderV1,
  formatProxyHeaderV2,
  proxyAddressFromSocket,
  type ProxyAddress,
  type ProxyHeader,
} from './proxy-header.js';
import { serveChallenge } from './responder.js';
import { route, type RouteTables } from './router.js';
import { sourceKey } from './source-key.js';

/** PROXY protocol version sent to backends. */
export type ProxyProtocolVersion = 'v1' | 'v2';

/** What the connection handler needs from the rest of the daemon. */
export interface ConnectionHandlerOptions {
  readonly lookup: (sni: string) => ReadyChallenge | undefined;
  readonly backends: BackendTable;
  readonly log: Logger;
  readonly hello: HelloLimits;
  /** Caps on concurrent connections, in total and per source. */
  readonly limits: ConnectionLimits;
  /** Challenge handshakes per source: `--handshake-rate`, `--handshake-burst`. */
  readonly handshakeRate: HandshakeRateLimits;
  readonly handshakeTimeoutMs: number;
  /** Every connection must start with a PROXY v1/v2 header (the daemon sits behind a front proxy). */
  readonly acceptProxyProtocol: boolean;
  /** Prefix passed-through connections with a PROXY header of this version. */
  readonly backendProxyProtocol: ProxyProtocolVersion | undefined;
  readonly backendConnectTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/** How long a refused client may take to read the alert before the socket is dropped. */
const REFUSE_LINGER_MS = 2000;

/** Counters over every connection handled. */
export interface ConnectionStats {
  served: number;
  passed: number;
  rejected: number;
}

/** Refused connections, closed hard if the peer has not hung up within {@link REFUSE_LINGER_MS}. */
const lingering = new Deadlines<net.Socket>((socket) => socket.destroy());

/** Refuses politely: the alert (if any), a FIN, and a hard close if the peer never hangs up. */
function refuse(socket: net.Socket, alert: number | undefined): void {
  if (socket.destroyed) return;
  socket.resume();
  if (alert === undefined) socket.end();
  else socket.end(encodeFatalAlert(alert));
  lingering.add(socket, REFUSE_LINGER_MS);
}

/** One configuration (the constructor's, or a reload's): shared by every connection accepted under it. */
interface Config extends HelloSettings {
  readonly options: ConnectionHandlerOptions;
  /** The router's lookups, built once per configuration, not per connection. */
  readonly tables: RouteTables<ReadyChallenge, ListenAddress>;
}

function configFor(options: ConnectionHandlerOptions): Config {
  return { limits: options.hello, expectProxyHeader: options.acceptProxyProtocol, options, tables: routeTables(options) };
}

const ignore = (): void => undefined;

function routeTables(options: ConnectionHandlerOptions): RouteTables<ReadyChallenge, ListenAddress> {
  return { challenge: options.lookup, backend: (name) => options.backends.lookup(name) };
}

function endpoint(address: string | undefined, port: number | undefined): string {
  return address === undefined ? '?' : formatListenAddress({ host: address, port: port ?? 0 });
}

/** The client as the backend should see it: from the front proxy's header, else from the socket. */
function clientAddress(socket: net.Socket, proxy: ProxyHeader | undefined): ProxyAddress {
  // A PROXY header has no room for an IPv6 zone (`fe80::1%eth0`, as Node reports link-local peers): drop it.
  const unzoned = (address: string | undefined): string => (address ?? '::').replace(/%.*$/, '');
  return (
    proxy?.address ??
    proxyAddressFromSocket(unzoned(socket.remoteAddress), socket.remotePort ?? 0, unzoned(socket.localAddress), socket.localPort ?? 0)
  );
}

/**
 * Handles each accepted TCP connection: reads its ClientHello, routes it, and completes the challenge handshake,
 * passes it to a backend, or refuses it. Every connection ends in exactly one `connection` log event, except those
 * refused by a limit (connection caps, `--handshake-rate`): under a flood that would be a line per connection, so the
 * limit's own rate-limited line counts them.
 */
export class ConnectionHandler {
  readonly stats: ConnectionStats = { served: 0, passed: 0, rejected: 0 };
  #config: Config;
  readonly #sockets = new Set<net.Socket>();
  readonly #whenEmpty: (() => void)[] = [];
  readonly #limiter: ConnectionLimiter<net.Socket>;
  /** Connections this handler closed itself (evicted, or over a cap), and why (for their outcome line). */
  readonly #dropped = new WeakMap<net.Socket, string>();
  /** One rate-limited log line per limit and action: under a flood they fire for every connection. */
  readonly #limitLogs: Record<'evicted' | 'handshake-rate' | LimitReason, RateLimitedLog>;
  /** Challenge handshakes each source may still start. */
  readonly #handshakes: HandshakeRate;
  /** A dead or resetting backend fails every passed connection: one warn line a second, the rest counted. */
  readonly #backendLog: RateLimitedLog;
  /**
   * Reads every connection's hello. Until a hello arrives a connection costs its socket and a few map entries: no
   * closure, timer or promise of its own (thousands of idle connections are an attack this daemon must absorb).
   */
  readonly #reader: HelloReader<Config>;
  /** The one close listener of every socket (a plain function: its `this` is the socket). */
  readonly #onClose: (this: net.Socket) => void;

  constructor(options: ConnectionHandlerOptions) {
    this.#config = configFor(options);
    this.#limiter = new ConnectionLimiter(options.limits);
    this.#handshakes = new HandshakeRate(options.handshakeRate);
    this.#backendLog = new RateLimitedLog(options.log, 'warn', 'backend-failed');
    this.#limitLogs = {
      evicted: new RateLimitedLog(options.log, 'warn', 'connection-limit'),
      'handshake-rate': new RateLimitedLog(options.log, 'warn', 'connection-limit'),
      'max-connections': new RateLimitedLog(options.log, 'warn', 'connection-limit'),
      'max-connections-per-source': new RateLimitedLog(options.log, 'warn', 'connection-limit'),
    };
    this.#reader = new HelloReader<Config>({
      outcome: (socket, read, started, config) => {
        this.#dispatch(socket, read, started, config).catch((error: unknown) => {
          // A bug must cost one connection, never the daemon.
          socket.destroy();
          config.options.log.log('error', 'connection', { remote: socket.remoteAddress ?? '?', outcome: 'failed', reason: 'internal-error', error: String(error), ms: elapsed(started) });
        });
      },
      proxyHeader: (socket, proxy) => {
        // A PROXY v2 LOCAL header (the proxy's health check) names no client: it stays counted in the total only.
        if (proxy.address === undefined || this.#limiter.reattribute(socket, sourceKey(proxy.address.sourceAddress))) return;
        const reason = 'max-connections-per-source';
        this.#dropped.set(socket, reason);
        this.#limitLogs[reason].hit({ limit: reason, action: 'refused', remote: proxy.address.sourceAddress, via: endpoint(socket.remoteAddress, socket.remotePort) });
        socket.destroy();
      },
    });
    const handler = this;
    this.#onClose = function (this: net.Socket): void {
      handler.#closed(this);
    };
  }

  /** Number of connections open right now. */
  get active(): number {
    return this.#sockets.size;
  }

  /**
   * Takes ownership of an accepted socket (from a server with `allowHalfOpen: true`). Over a connection limit it is
   * closed at once (or older connections still without a hello are, see {@link ConnectionLimiter}).
   */
  handle(socket: net.Socket): void {
    // Reset while it waited to be handed over (behind the start gate): its 'close' is gone, it would never be released.
    if (socket.destroyed) return;
    // Failures are reported through the outcome; a reset is routine here. An error listener the caller added (the
    // daemon adds one at accept) keeps an error from being thrown just as well.
    if (socket.listenerCount('error') === 0) socket.on('error', ignore);
    const config = this.#config;
    const remote = socket.remoteAddress ?? '?';
    // Behind a front proxy every connection comes from the proxy: the client is known from the PROXY header only.
    const admission = this.#limiter.admit(socket, config.expectProxyHeader ? undefined : sourceKey(remote));
    if (!admission.ok) {
      // No outcome line: a flood would write one per connection. The limit's own line counts them.
      this.stats.rejected++;
      this.#limitLogs[admission.reason].hit({ limit: admission.reason, action: 'refused', remote, open: this.#limiter.size });
      socket.destroy();
      return;
    }
    this.#evict(admission.evicted);
    this.#sockets.add(socket);
    socket.on('close', this.#onClose);
    this.#reader.read(socket, config);
  }

  /** Applies new settings (SIGHUP) to connections accepted from now on; open ones keep theirs. */
  reconfigure(options: ConnectionHandlerOptions): void {
    this.#config = configFor(options);
    this.#limiter.reconfigure(options.limits);
    this.#handshakes.reconfigure(options.handshakeRate);
  }

  /** Closes connections the limiter evicted to make room. */
  #evict(victims: readonly net.Socket[]): void {
    for (const victim of victims) {
      this.#dropped.set(victim, 'evicted');
      this.#limitLogs.evicted.hit({ limit: 'max-connections', action: 'evicted', remote: victim.remoteAddress, open: this.#limiter.size });
      victim.destroy();
    }
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

  #closed(socket: net.Socket): void {
    this.#reader.closed(socket);
    this.#limiter.release(socket);
    this.#sockets.delete(socket);
    if (this.#sockets.size === 0) for (const notify of this.#whenEmpty.splice(0)) notify();
  }

  /**
   * Routes a connection whose hello was read, and sees it to its end. Called from the socket's data event: everything
   * up to the first `await` (a TLS socket or a backend connection taking the socket over) happens before another
   * byte can arrive.
   */
  async #dispatch(socket: net.Socket, read: HelloOutcome, started: number, config: Config): Promise<void> {
    const { options } = config;
    const done = (outcome: string, detail: Readonly<Record<string, LogValue>>): void => logOutcome(options.log, socket, read, started, outcome, detail);
    if (read.kind !== 'hello') {
      this.stats.rejected++;
      refuse(socket, undefined);
      const reason = read.kind === 'invalid' ? `invalid-hello:${read.reason}` : read.kind;
      done('rejected', { reason: this.#dropped.get(socket) ?? reason });
      return;
    }
    const decision = route(read.hello, config.tables);
    switch (decision.kind) {
      case 'reject': {
        this.stats.rejected++;
        refuse(socket, decision.alert);
        done('rejected', { reason: decision.reason });
        return;
      }
      case 'challenge': {
        // Only challenge handshakes cost a key exchange and a signature; refusals and passthrough cost a parse.
        const remote = read.proxy?.address?.sourceAddress ?? socket.remoteAddress ?? '?';
        if (!this.#handshakes.allow(sourceKey(remote))) {
          // Refused as cheaply as the hello allows, with no outcome line: a flood would write one per connection.
          this.stats.rejected++;
          refuse(socket, ALERT.internal_error);
          this.#limitLogs['handshake-rate'].hit({ limit: 'handshake-rate', action: 'refused', remote, sni: read.hello.serverName });
          return;
        }
        this.#evict(this.#limiter.challenge(socket));
        const outcome = await serveChallenge(socket, read.buffered, decision.target.context, options.handshakeTimeoutMs);
        if (outcome.ok) {
          this.stats.served++;
          decision.target.served++;
          done('served', { tls: outcome.protocol });
        } else {
          this.stats.rejected++;
          // Closed to make room for a source holding fewer connections (see ConnectionLimiter): said so.
          done('failed', { reason: this.#dropped.get(socket) ?? outcome.reason });
        }
        return;
      }
      case 'passthrough': {
        if (!this.#limiter.passThrough(socket)) {
          // Over --max-connections, let in for a challenge handshake: not for a backend.
          this.stats.rejected++;
          refuse(socket, undefined);
          this.#limitLogs['max-connections'].hit({ limit: 'max-connections', action: 'refused', remote: socket.remoteAddress ?? '?', open: this.#limiter.size });
          return;
        }
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
        const failed = isBackendFailure(outcome.reason);
        if (failed) this.#backendLog.hit({ backend: formatListenAddress(decision.backend), reason: outcome.reason });
        // Not `passed`: a connection the backend never took (or reset) failed, whatever bytes made it through.
        done(failed ? 'backend-failed' : 'passed', {
          backend: formatListenAddress(decision.backend),
          up: outcome.bytesUp,
          down: outcome.bytesDown,
          reason: this.#dropped.get(socket) ?? outcome.reason,
        });
      }
    }
  }
}

/** Milliseconds since `started` (a `performance.now()`), as logged. */
function elapsed(started: number): string {
  return (performance.now() - started).toFixed(1);
}

/** Logs the one outcome line of a connection: who it is, what it asked for (once known), how it ended. */
function logOutcome(log: Logger, socket: net.Socket, read: HelloOutcome, started: number, outcome: string, detail: Readonly<Record<string, LogValue>>): void {
  // The peer address is cached by the socket (read at accept), closed or not.
  const peer = endpoint(socket.remoteAddress, socket.remotePort);
  const client = read.proxy?.address;
  // One object built in place: this runs for every connection.
  const fields: Record<string, LogValue> = client ? { remote: endpoint(client.sourceAddress, client.sourcePort), via: peer } : { remote: peer };
  if (read.kind === 'hello') {
    fields.sni = read.hello.serverName;
    fields.alpn = read.hello.alpn.length > 0 ? read.hello.alpn.join(',') : undefined;
  }
  for (const key in detail) fields[key] = detail[key];
  fields.outcome = outcome;
  fields.ms = elapsed(started);
  log.log('info', 'connection', fields);
}
