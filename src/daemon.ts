/**
 * Composition root: builds the store, certificate cache, listeners and control socket, and owns the lifecycle
 * (running → closing → closed) and the process signals. Nothing else in the project touches signals.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createCommandHandler } from './control/handler.js';
import { ControlServer, type ControlServerOptions } from './control/server.js';
import type { Logger } from './log.js';
import type { BackendTable } from './net/backends.js';
import { ConnectionHandler, type ProxyProtocolVersion } from './net/connection-handler.js';
import { formatListenAddress, type ListenAddress } from './net/listen-address.js';
import { Listeners } from './net/listeners.js';
import { dropPrivileges, requireRoot } from './privilege/drop.js';
import type { RunAs } from './privilege/run-as.js';
import { StartGate } from './start-gate.js';
import { CertificateCache, type ReadyChallenge } from './store/certificate-cache.js';
import type { ChallengeStore } from './store/challenge-store.js';
import { FileJournal } from './store/file-journal.js';
import { JournaledChallengeStore } from './store/journaled-store.js';
import { MemoryChallengeStore } from './store/memory-store.js';
import { openSharedStore } from './store/shared-store.js';
import type { SharedStoreConfig } from './store/store-config.js';
import { WatchDir } from './store/watch-dir.js';
import type { PassedDescriptor } from './systemd/listen-fds.js';
import { openPassedSockets, takeListenFds } from './systemd/passed-sockets.js';
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
  /** `--max-connections`: concurrent TLS-port connections; at the cap the oldest still without a hello are closed. */
  readonly maxConnections: number;
  /** `--max-connections-per-source`: concurrent connections per client IPv4 address or IPv6 /64. */
  readonly maxConnectionsPerSource: number;
  /** `--max-control-connections`: concurrent control-socket clients. */
  readonly maxControlConnections: number;
  /** `--control-rate`: commands per second per control connection; faster ones are delayed. */
  readonly controlCommandsPerSecond: number;
  /** `--max-control-line`: longest control command line, in bytes. */
  readonly maxControlLine: number;
  /** dehydrated's ALPNCERTDIR, whose certificate + key pairs are served too; undefined watches nothing. */
  readonly watchDir: string | undefined;
  /** State file that keeps challenges across restarts; undefined keeps them in memory only. */
  readonly statePath: string | undefined;
  /** `--store`: the Redis the fleet shares (never together with `statePath`); undefined keeps challenges local. */
  readonly store: SharedStoreConfig | undefined;
  /** `--user`: the account to become once the sockets are open (the daemon must start as root); undefined stays. */
  readonly runAs: RunAs | undefined;
  /** How long shutdown waits for open connections before dropping them. */
  readonly shutdownTimeoutMs: number;
}

/** Options a reload (SIGHUP) cannot apply: they need sockets, files or privileges set up at start. */
const RESTART_ONLY = ['listen', 'controlPath', 'controlMode', 'controlGid', 'statePath', 'store', 'runAs', 'watchDir', 'maxChallenges', 'maxControlConnections', 'controlCommandsPerSecond', 'maxControlLine'] as const;

function connectionSettings(options: DaemonOptions) {
  return {
    backends: options.backends,
    hello: { maxBytes: options.maxHelloBytes, timeoutMs: options.helloTimeoutMs },
    limits: { maxConnections: options.maxConnections, maxPerSource: options.maxConnectionsPerSource },
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    acceptProxyProtocol: options.acceptProxyProtocol,
    backendProxyProtocol: options.backendProxyProtocol,
    backendConnectTimeoutMs: options.backendConnectTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
  };
}

/** Lifecycle states. */
export type DaemonState = 'running' | 'closing' | 'closed';

/** A running responder. */
export class Daemon {
  #state: DaemonState = 'running';
  #closing: Promise<void> | undefined;
  #options: DaemonOptions;

  private constructor(
    readonly listeners: Listeners,
    readonly control: ControlServer,
    private readonly store: ChallengeStore,
    private readonly cache: CertificateCache,
    private readonly connections: ConnectionHandler,
    private readonly log: Logger,
    private readonly watchDir: WatchDir | undefined,
    private readonly lookup: (sni: string) => ReadyChallenge | undefined,
    options: DaemonOptions,
  ) {
    this.#options = options;
  }

  /**
   * Starts every part, or none: a failure closes what was already opened. `passed` are the sockets systemd passed
   * (see {@link takeListenFds}): TLS listeners among them replace `listen`, a control socket replaces `controlPath`.
   */
  static async start(options: DaemonOptions, log: Logger, passed: readonly PassedDescriptor[] = []): Promise<Daemon> {
    const started = performance.now();
    if (options.runAs !== undefined) requireRoot(options.runAs);
    const store: ChallengeStore =
      options.store !== undefined
        ? await openSharedStore(options.store, { maxChallenges: options.maxChallenges, log })
        : options.statePath === undefined
          ? new MemoryChallengeStore({ maxChallenges: options.maxChallenges })
          : await JournaledChallengeStore.open({ journal: new FileJournal(options.statePath), maxChallenges: options.maxChallenges, log });
    const cache = new CertificateCache(store, log);
    let watchDir: WatchDir | undefined;
    // A deploy wins over a file for the same name: it is explicit and cleaned by its hook, while files can be
    // leftovers of an interrupted dehydrated run.
    const lookup = (sni: string): ReadyChallenge | undefined => cache.lookup(sni) ?? watchDir?.lookup(sni);
    const connections = new ConnectionHandler({ lookup, log, ...connectionSettings(options) });
    for (const rule of options.backends.rules) log.log('info', 'backend', { rule, proxy_protocol: options.backendProxyProtocol });
    store.on('delete', (sni, reason) => {
      if (reason === 'expired') log.log('info', 'expire', { sni });
    });
    // Nothing is served until every socket is open and, with --user, root is given up.
    const gate = new StartGate();
    const onConnection = (socket: Socket): void => {
      // Node reads an accepted socket at once: a reset while the gate is still closed must not go unhandled.
      socket.on('error', () => undefined);
      void gate.through(
        () => connections.handle(socket),
        () => void socket.destroy(),
      );
    };
    let listeners: Listeners | undefined;
    let control: ControlServer | undefined;
    let daemon: Daemon | undefined;
    try {
      const commands = createCommandHandler({
        store,
        cache,
        directory: { list: () => watchDir?.list() ?? [] },
        log,
        defaultTtlSeconds: () => (daemon ? daemon.#options : options).ttlSeconds,
        status: () => ({
          version: VERSION,
          uptimeSeconds: Math.round((performance.now() - started) / 1000),
          listeners: (listeners?.addresses ?? []).map(formatListenAddress),
          ...connections.stats,
        }),
      });
      const controlOptions: ControlServerOptions = {
        path: options.controlPath,
        mode: options.controlMode,
        gid: options.controlGid ?? options.runAs?.gid,
        uid: options.runAs?.uid,
        log,
        maxConnections: options.maxControlConnections,
        commandsPerSecond: options.controlCommandsPerSecond,
        maxLineBytes: options.maxControlLine,
        handler: (line) => gate.through(() => commands(line), () => []),
      };
      // Passed sockets get their handlers before anything is awaited: systemd may have queued connections already.
      const adopted = openPassedSockets(passed);
      if (adopted.control !== undefined) control = ControlServer.adopt(adopted.control, controlOptions);
      if (adopted.tls.length > 0) listeners = Listeners.adopt(adopted.tls, onConnection, log);
      listeners ??= await Listeners.bind(options.listen, onConnection, log);
      control ??= await ControlServer.listen(controlOptions);
      if (options.runAs !== undefined) dropPrivileges(options.runAs, log);
      // After --user: the files are read as the user that keeps reading them, and loaded before anything is served.
      if (options.watchDir !== undefined) {
        watchDir = await WatchDir.open({ dir: options.watchDir, log, maxEntries: options.maxChallenges });
      }
      gate.open();
      log.log('info', 'ready', { version: VERSION, ms: (performance.now() - started).toFixed(1) });
      daemon = new Daemon(listeners, control, store, cache, connections, log, watchDir, lookup, options);
      return daemon;
    } catch (error) {
      gate.fail();
      await Promise.all([listeners?.close(), control?.close()]);
      watchDir?.close();
      cache.close();
      await store.close();
      throw error;
    }
  }

  /**
   * Looks at `--watch-dir` afresh (watching it again, in case it was replaced) and serves exactly the pairs found
   * there; a no-op without `--watch-dir`. For SIGHUP.
   */
  async rescan(): Promise<void> {
    await this.watchDir?.rescan();
  }

  /**
   * Applies reloaded options (SIGHUP): backends, PROXY protocol, limits, timeouts and the default TTL take effect for
   * new connections and deploys; options that need a restart are reported, not applied.
   */
  reconfigure(options: DaemonOptions): void {
    const pending = RESTART_ONLY.filter((key) => JSON.stringify(options[key]) !== JSON.stringify(this.#options[key]));
    if (pending.length > 0) this.log.log('warn', 'reload-needs-restart', { options: pending });
    const applied = { ...options };
    for (const key of RESTART_ONLY) Object.assign(applied, { [key]: this.#options[key] });
    this.#options = applied;
    this.connections.reconfigure({ lookup: this.lookup, log: this.log, ...connectionSettings(applied) });
    for (const rule of applied.backends.rules) this.log.log('info', 'backend', { rule, proxy_protocol: applied.backendProxyProtocol });
    this.log.log('info', 'reloaded', { ttl: applied.ttlSeconds });
  }

  /** Current lifecycle state. */
  get state(): DaemonState {
    return this.#state;
  }

  /**
   * Stops accepting, lets open connections (handshakes, passthrough) finish for up to `shutdownTimeoutMs`, then drops
   * the rest, closes the control socket and the store (which writes its last state); idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#state = 'closing';
      this.log.log('info', 'stopping', { open: this.connections.active });
      const listenersClosed = this.listeners.close();
      await this.connections.drain(this.#options.shutdownTimeoutMs);
      if (this.connections.active > 0) this.log.log('warn', 'shutdown-dropped', { open: this.connections.active });
      this.connections.destroyAll();
      await Promise.all([listenersClosed, this.control.close()]);
      this.watchDir?.close();
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
export async function runDaemon(options: DaemonOptions, log: Logger, reload?: () => Promise<DaemonOptions>): Promise<number> {
  const daemon = await Daemon.start(options, log, takeListenFds(process.env, process.pid, log));
  // SIGHUP: re-read the config (a bad one is logged and the running one kept) and the watch directory.
  const onHangup = (): void => {
    log.log('info', 'signal', { signal: 'SIGHUP' });
    void (async () => {
      try {
        if (reload) daemon.reconfigure(await reload());
      } catch (error) {
        log.log('error', 'reload-failed', { error: error instanceof Error ? error.message : String(error) });
      }
      await daemon.rescan();
    })();
  };
  process.on('SIGHUP', onHangup);
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
        process.off('SIGHUP', onHangup);
        resolve(0);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
