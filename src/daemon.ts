/**
 * Composition root: builds the store, certificate cache, listeners and control socket, and owns the lifecycle
 * (running → closing → closed) and the process signals. Nothing else in the project touches signals.
 */
import { performance } from 'node:perf_hooks';
import { createCommandHandler } from './control/handler.js';
import { ControlServer } from './control/server.js';
import type { Logger } from './log.js';
import type { BackendTable } from './net/backends.js';
import { ConnectionHandler, type ProxyProtocolVersion } from './net/connection-handler.js';
import { formatListenAddress, type ListenAddress } from './net/listen-address.js';
import { Listeners } from './net/listeners.js';
import { CertificateCache } from './store/certificate-cache.js';
import { MemoryChallengeStore } from './store/memory-store.js';
import { VERSION } from './version.js';

/** Everything `serve` can be told. */
export interface DaemonOptions {
  readonly listen: readonly ListenAddress[];
  readonly controlPath: string;
  readonly controlMode: number;
  readonly controlGid: number | undefined;
  readonly ttlSeconds: number;
  readonly maxChallenges: number;
  readonly maxHelloBytes: number;
  readonly helloTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  /** Where ordinary TLS goes; an empty table refuses it. */
  readonly backends: BackendTable;
  readonly backendProxyProtocol: ProxyProtocolVersion | undefined;
  readonly acceptProxyProtocol: boolean;
  readonly backendConnectTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

/** Lifecycle states. */
export type DaemonState = 'running' | 'closing' | 'closed';

/** A running responder. */
export class Daemon {
  #state: DaemonState = 'running';
  #closing: Promise<void> | undefined;

  private constructor(
    readonly listeners: Listeners,
    readonly control: ControlServer,
    private readonly store: MemoryChallengeStore,
    private readonly cache: CertificateCache,
    private readonly connections: ConnectionHandler,
    private readonly log: Logger,
  ) {}

  /** Starts every part, or none: a failure closes what was already opened. */
  static async start(options: DaemonOptions, log: Logger): Promise<Daemon> {
    const started = performance.now();
    const store = new MemoryChallengeStore({ maxChallenges: options.maxChallenges });
    const cache = new CertificateCache(store, log);
    const connections = new ConnectionHandler({
      lookup: (sni) => cache.lookup(sni),
      backends: options.backends,
      log,
      hello: { maxBytes: options.maxHelloBytes, timeoutMs: options.helloTimeoutMs },
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      acceptProxyProtocol: options.acceptProxyProtocol,
      backendProxyProtocol: options.backendProxyProtocol,
      backendConnectTimeoutMs: options.backendConnectTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs,
    });
    for (const rule of options.backends.rules) log.log('info', 'backend', { rule, proxy_protocol: options.backendProxyProtocol });
    store.on('delete', (sni, reason) => {
      if (reason === 'expired') log.log('info', 'expire', { sni });
    });
    let listeners: Listeners | undefined;
    try {
      listeners = await Listeners.bind(options.listen, (socket) => connections.handle(socket), log);
      const bound = listeners;
      const control = await ControlServer.listen({
        path: options.controlPath,
        mode: options.controlMode,
        gid: options.controlGid,
        log,
        handler: createCommandHandler({
          store,
          cache,
          log,
          defaultTtlSeconds: options.ttlSeconds,
          status: () => ({
            version: VERSION,
            uptimeSeconds: Math.round((performance.now() - started) / 1000),
            listeners: bound.addresses.map(formatListenAddress),
            ...connections.stats,
          }),
        }),
      });
      log.log('info', 'ready', { version: VERSION, ms: (performance.now() - started).toFixed(1) });
      return new Daemon(bound, control, store, cache, connections, log);
    } catch (error) {
      await listeners?.close();
      cache.close();
      await store.close();
      throw error;
    }
  }

  /** Current lifecycle state. */
  get state(): DaemonState {
    return this.#state;
  }

  /** Stops listening, drops open connections and the control socket; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'closing';
      this.log.log('info', 'stopping', {});
      const listenersClosed = this.listeners.close();
      this.connections.destroyAll();
      await Promise.all([listenersClosed, this.control.close()]);
      this.cache.close();
      await this.store.close();
      this.#state = 'closed';
      this.log.log('info', 'stopped', {});
    })();
    return this.#closing;
  }
}

/**
 * Runs the daemon until SIGTERM or SIGINT, then shuts it down. Resolves with the exit code; a second signal
 * while closing forces exit code 1 without waiting.
 */
export async function runDaemon(options: DaemonOptions, log: Logger): Promise<number> {
  const daemon = await Daemon.start(options, log);
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (daemon.state !== 'running') {
        log.log('warn', 'forced-exit', { signal });
        resolve(1);
        return;
      }
      log.log('info', 'signal', { signal });
      void daemon.close().then(() => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        resolve(0);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
