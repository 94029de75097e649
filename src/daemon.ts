/**
 * Composition root: builds the store, certificate cache, listeners and control socket, and owns the lifecycle
 * (running → closing → closed) and the process signals. Nothing else in the project touches signals.
 */
import cluster from 'node:cluster';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import { RESTART_ONLY, type DaemonOptions } from './config/serve-options.js';
import { createCommandHandler, type Activity } from './control/handler.js';
import { ControlServer, type ControlServerOptions, type LineHandler } from './control/server.js';
import { AlpnResponderError, hasCode } from './errors.js';
import { createStreamLogger, withFields, type Logger } from './log.js';
import { ContextTable } from './net/context-table.js';
import { formatListenAddress, type ListenAddress } from './net/listen-address.js';
import { dropPrivileges, requireRoot } from './privilege/drop.js';
import { StartGate } from './start-gate.js';
import { TlsPort } from './tls-port.js';
import { CertificateCache } from './store/certificate-cache.js';
import type { ChallengeStore } from './store/challenge-store.js';
import { FileJournal } from './store/file-journal.js';
import { JournaledChallengeStore } from './store/journaled-store.js';
import { MemoryChallengeStore } from './store/memory-store.js';
import { openSharedStore } from './store/shared-store.js';
import { sortPassedSockets, type PassedDescriptor, type SocketRoles, type PassedSocket } from './systemd/listen-fds.js';
import { openPassedSockets, takeListenFds } from './systemd/passed-sockets.js';
import { isUnixSocket, unixSocketInodes } from './systemd/socket-kind.js';
import { VERSION } from './version.js';
import { isMessage, type ToPrimary, type ToWorker, type WireConnectionSettings } from './workers/messages.js';
import { WorkerPool } from './workers/worker-pool.js';
import { WorkerProcess } from './workers/worker-process.js';

export type { DaemonOptions } from './config/serve-options.js';

/** The worker program forked by `--workers`, next to this file in dist/. */
const WORKER_PROGRAM = fileURLToPath(new URL('./worker.js', import.meta.url));

/**
 * The TLS-port settings of each serving process. With workers, both connection limits are shared out among them
 * (rounded up), so that each means the same for the whole daemon whatever `--workers` is: the kernel, not the
 * daemon, picks the worker of each connection, and asking the primary on every accept would cost a round trip.
 */
export function wireConnectionSettings(options: DaemonOptions): WireConnectionSettings {
  return {
    backends: options.backends.values,
    backendProxyProtocol: options.backendProxyProtocol,
    acceptProxyProtocol: options.acceptProxyProtocol,
    maxHelloBytes: options.maxHelloBytes,
    helloTimeoutMs: options.helloTimeoutMs,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    backendConnectTimeoutMs: options.backendConnectTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
    maxConnections: Math.ceil(options.maxConnections / options.workers),
    maxConnectionsPerSource: Math.ceil(options.maxConnectionsPerSource / options.workers),
    // Not divided: each worker's CPU gets the same protection, and the kernel does not spread one source evenly.
    handshakeRate: options.handshakeRate,
    handshakeBurst: options.handshakeBurst,
  };
}

/** Sorts passed descriptors by kind without listening on them: with workers, only they may accept. */
function sortUnopened(passed: readonly PassedDescriptor[]): SocketRoles<PassedDescriptor & PassedSocket> {
  const unixInodes = passed.length > 0 ? unixSocketInodes() : new Set<string>();
  return sortPassedSockets(passed.map((descriptor) => ({ ...descriptor, unix: isUnixSocket(descriptor.fd, unixInodes) })));
}

/** What serves the TLS port: this process, or its worker processes. */
interface Front {
  readonly listeners: { readonly addresses: readonly ListenAddress[] };
  /** Connections open now, when this process knows (workers count their own). */
  readonly open: number | undefined;
  /** Processes serving the TLS port now. */
  readonly serving: number;
  activity(): Promise<Activity>;
  reconfigure(settings: WireConnectionSettings): void;
  rescan(): Promise<void>;
  /** Stops accepting, lets open connections finish for up to `timeoutMs`, drops the rest. */
  close(timeoutMs: number): Promise<void>;
}

/** The store `serve` was told to use: Redis (`--store`), the state file (`--state`), or memory. */
async function openStore(options: DaemonOptions, log: Logger): Promise<ChallengeStore> {
  if (options.store !== undefined) return openSharedStore(options.store, { maxChallenges: options.maxChallenges, log });
  if (options.statePath === undefined) return new MemoryChallengeStore({ maxChallenges: options.maxChallenges });
  try {
    return await JournaledChallengeStore.open({ journal: new FileJournal(options.statePath), maxChallenges: options.maxChallenges, log });
  } catch (error) {
    if (!hasCode(error, 'ERR_STATE_WRITE_FAILED')) throw error;
    // At start, not after a deploy: name the account that must be able to write, and what to do next.
    const who = options.runAs === undefined ? `${os.userInfo().username} (uid ${process.getuid?.() ?? '?'}), the user starting it` : `--user ${options.runAs.spec} (uid ${options.runAs.uid}, gid ${options.runAs.gid})`;
    throw new AlpnResponderError('ERR_STATE_WRITE_FAILED', error.message, {
      cause: error,
      remedy: `The daemon serves as ${who}: make ${path.dirname(options.statePath)} exist and be writable by that account (chown/chmod it, or pick another --state), with free space; then start the daemon again.`,
    });
  }
}

/** Lifecycle states. */
export type DaemonState = 'running' | 'closing' | 'closed';

/** A running responder. */
export class Daemon {
  #state: DaemonState = 'running';
  #closing: Promise<void> | undefined;
  #options: DaemonOptions;

  private constructor(
    private readonly front: Front,
    readonly control: ControlServer,
    private readonly store: ChallengeStore,
    private readonly cache: CertificateCache,
    private readonly log: Logger,
    options: DaemonOptions,
    /** Settles if the TLS port can no longer be served (every worker lost, none can start again). */
    readonly lost: Promise<void>,
  ) {
    this.#options = options;
  }

  /** The TLS listeners' addresses (port 0 resolved). */
  get listeners(): { readonly addresses: readonly ListenAddress[] } {
    return this.front.listeners;
  }

  /**
   * Starts every part, or none: a failure closes what was already opened. `passed` are the sockets systemd passed
   * (see {@link takeListenFds}): TLS listeners among them replace `listen`, a control socket replaces `controlPath`.
   * With `workers` > 1 the TLS port is served by that many worker processes (see {@link WorkerPool}).
   */
  static async start(options: DaemonOptions, log: Logger, passed: readonly PassedDescriptor[] = []): Promise<Daemon> {
    const started = performance.now();
    if (options.runAs !== undefined) requireRoot(options.runAs);
    // With workers, the TLS descriptors go to them unopened; sorting first reports a bad socket unit before any work.
    const unopened = options.workers > 1 ? sortUnopened(passed) : undefined;
    // The state file is opened only once root is given up (below), so it is read and written with the serving
    // user's rights alone and its first write proves they suffice; the other stores are opened before anything is
    // bound, so an unreachable Redis stops start-up early.
    let store: ChallengeStore | undefined = options.statePath === undefined ? await openStore(options, log) : undefined;
    let lose: () => void = () => undefined;
    const lost = new Promise<void>((resolve) => (lose = resolve));
    const pool =
      unopened === undefined
        ? undefined
        : new WorkerPool({
        count: options.workers,
        exec: WORKER_PROGRAM,
        log,
        onLost: (error) => {
          log.log('error', 'workers-lost', { error: error.message, action: 'exit' });
          lose();
        },
        settings: {
          listen: unopened.tls.length > 0 ? unopened.tls.map(({ fd }) => ({ fd })) : options.listen,
          connection: wireConnectionSettings(options),
          watchDir: options.watchDir,
          maxChallenges: options.maxChallenges,
          runAs: options.runAs,
          logLevel: options.logLevel,
        },
      });
    // Built certificates go to the workers, or to this process's own TLS contexts.
    const serving: { readonly pool: WorkerPool } | { readonly contexts: ContextTable } = pool !== undefined ? { pool } : { contexts: new ContextTable() };
    for (const rule of options.backends.rules) log.log('info', 'backend', { rule, proxy_protocol: options.backendProxyProtocol });
    // Nothing is served until every socket is open and, with --user, root is given up.
    const gate = new StartGate();
    let front: Front | undefined;
    let local: TlsPort | undefined;
    let control: ControlServer | undefined;
    let daemon: Daemon | undefined;
    let cache: CertificateCache | undefined;
    // Set before the gate opens; the gate holds every command until then.
    let commands: LineHandler | undefined;
    /** The store (opened now if it was not yet), the certificates following it, and the commands on both. */
    const serveStore = async (): Promise<void> => {
      const opened = (store ??= await openStore(options, log));
      const following = (cache = new CertificateCache(opened, 'pool' in serving ? serving.pool : serving.contexts, log));
      opened.on('delete', (sni, reason) => {
        if (reason === 'expired') log.log('info', 'expire', { sni });
      });
      commands = createCommandHandler({
        store: opened,
        cache: following,
        log,
        defaultTtlSeconds: () => (daemon ? daemon.#options : options).ttlSeconds,
        status: () => ({
          version: VERSION,
          uptimeSeconds: Math.round((performance.now() - started) / 1000),
          listeners: (front?.listeners.addresses ?? []).map(formatListenAddress),
          workers: front?.serving ?? 0,
        }),
        activity: () => front?.activity() ?? Promise.resolve(NO_ACTIVITY),
      });
    };
    try {
      const controlOptions: ControlServerOptions = {
        path: options.controlPath,
        mode: options.controlMode,
        gid: options.controlGid ?? options.runAs?.gid,
        uid: options.runAs?.uid,
        log,
        maxConnections: options.maxControlConnections,
        commandsPerSecond: options.controlCommandsPerSecond,
        maxLineBytes: options.maxControlLine,
        handler: (line) => gate.through(() => commands!(line), () => []),
      };
      if ('pool' in serving) {
        const { pool } = serving;
        const passedControl = unopened?.control && openPassedSockets([unopened.control]).control;
        control = passedControl ? ControlServer.adopt(passedControl, controlOptions) : await ControlServer.listen(controlOptions);
        front = new WorkerFront(pool);
        // The workers listen (through this process, as root if started so) and give up root themselves.
        await pool.start();
        if (options.runAs !== undefined) dropPrivileges(options.runAs, log);
        await serveStore();
      } else {
        // Passed sockets get their handlers before anything is awaited: systemd may have queued connections already.
        const adopted = openPassedSockets(passed);
        local = new TlsPort(serving.contexts, wireConnectionSettings(options), log, gate);
        if (adopted.control !== undefined) control = ControlServer.adopt(adopted.control, controlOptions);
        if (adopted.tls.length > 0) local.adopt(adopted.tls);
        await local.bind(options.listen);
        front = local;
        control ??= await ControlServer.listen(controlOptions);
        if (options.runAs !== undefined) dropPrivileges(options.runAs, log);
        await serveStore();
        // After --user: the files are read as the user that keeps reading them, and loaded before anything is served.
        await local.watch(options.watchDir, options.maxChallenges);
      }
      gate.open();
      log.log('info', 'ready', { version: VERSION, workers: options.workers, ms: (performance.now() - started).toFixed(1) });
      daemon = new Daemon(front, control, store!, cache!, log, options, lost);
      return daemon;
    } catch (error) {
      gate.fail();
      await Promise.all([local?.close(0), pool?.close(0), control?.close()]);
      cache?.close();
      await store?.close();
      throw error;
    }
  }

  /**
   * Looks at `--watch-dir` afresh (watching it again, in case it was replaced) and serves exactly the pairs found
   * there; a no-op without `--watch-dir`. For SIGHUP.
   */
  rescan(): Promise<void> {
    return this.front.rescan();
  }

  /**
   * Applies reloaded options (SIGHUP): backends, PROXY protocol, limits, timeouts and the default TTL take effect for
   * new connections and deploys; options that need a restart are reported, not applied.
   */
  reconfigure(options: DaemonOptions): void {
    const pending = RESTART_ONLY.filter(({ key }) => JSON.stringify(options[key]) !== JSON.stringify(this.#options[key])).map(({ name }) => name);
    if (pending.length > 0) this.log.log('warn', 'reload-needs-restart', { options: pending });
    const applied = { ...options };
    for (const { key } of RESTART_ONLY) Object.assign(applied, { [key]: this.#options[key] });
    this.#options = applied;
    this.front.reconfigure(wireConnectionSettings(applied));
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
      this.log.log('info', 'stopping', { open: this.front.open });
      await this.front.close(this.#options.shutdownTimeoutMs);
      await this.control.close();
      this.cache.close();
      await this.store.close();
      this.#state = 'closed';
      this.log.log('info', 'stopped', {});
    })();
    return this.#closing;
  }
}

const NO_ACTIVITY: Activity = { served: 0, passed: 0, rejected: 0, servedBySni: new Map(), watched: [] };

/** The TLS port served by worker processes (`--workers N`, N > 1). */
class WorkerFront implements Front {
  readonly open = undefined;

  constructor(private readonly pool: WorkerPool) {}

  get serving(): number {
    return this.pool.serving;
  }

  get listeners(): { readonly addresses: readonly ListenAddress[] } {
    return this.pool;
  }

  activity(): Promise<Activity> {
    return this.pool.activity();
  }

  reconfigure(settings: WireConnectionSettings): void {
    this.pool.configure(settings);
  }

  rescan(): Promise<void> {
    this.pool.rescan();
    return Promise.resolve();
  }

  close(timeoutMs: number): Promise<void> {
    return this.pool.close(timeoutMs);
  }
}
/**
 * Keeps V8's young generation from growing under bursts of connections: a long-running daemon with thousands of
 * idle sockets otherwise keeps the grown semi-spaces resident (about 4 KiB per idle connection instead of 3 KiB,
 * measured), for no CPU saved at the handshake rates measured in docs/performance.md.
 */
function tuneHeap(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * Runs the daemon until SIGTERM or SIGINT, then shuts it down. Resolves with the exit code; a second signal
 * while closing forces exit code 1 without waiting.
 */
export async function runDaemon(options: DaemonOptions, log: Logger, reload?: () => Promise<DaemonOptions>): Promise<number> {
  tuneHeap();
  const daemon = await Daemon.start(options, log, takeListenFds(process.env, process.pid, log));
  // SIGHUP: re-read the config (a bad one is logged and the running one kept) and the watch directory.
  const onHangup = (): void => {
    log.log('info', 'signal', { signal: 'SIGHUP' });
    void (async () => {
      try {
        if (reload) daemon.reconfigure(await reload());
      } catch (error) {
        // Nothing of the new file applies: every running setting stays.
        log.log('error', 'reload-failed', { code: error instanceof AlpnResponderError ? error.code : undefined, error: error instanceof Error ? error.message : String(error) });
      }
      await daemon.rescan();
    })();
  };
  process.on('SIGHUP', onHangup);
  return new Promise((resolve) => {
    const stop = (code: number): void => {
      void daemon.close().then(() => {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        process.off('SIGHUP', onHangup);
        resolve(code);
      });
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      if (daemon.state !== 'running') {
        log.log('warn', 'forced-exit', { signal });
        resolve(1);
        return;
      }
      log.log('info', 'signal', { signal });
      stop(0);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // Serving cannot resume without a restart: exit non-zero so that a supervisor (Restart=on-failure) restarts us.
    void daemon.lost.then(() => {
      if (daemon.state === 'running') stop(1);
    });
  });
}

/**
 * The life of a worker process (`--workers`): asks the primary for its settings, serves until the primary says
 * `close`, and resolves with the exit code. Signals are the primary's to act on — Ctrl-C reaches the whole process
 * group, and a worker stopping on its own would drop connections the primary still counts on — so a worker ignores
 * them. A worker whose primary is gone is ended at once by node:cluster; it only says so first.
 */
export async function runWorker(): Promise<number> {
  tuneHeap();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);
  // Every message is listened for from the start and kept until the worker serves: one that arrives without a
  // listener is lost, and the primary may send changes while this worker is still starting.
  const inbox: unknown[] = [];
  let deliver: ((message: unknown) => void) | undefined;
  let initialized!: (init: Extract<ToWorker, { t: 'init' }>) => void;
  const init = new Promise<Extract<ToWorker, { t: 'init' }>>((resolve) => (initialized = resolve));
  process.on('message', (message: unknown) => {
    if (isMessage(message) && message.t === 'init') initialized(message as Extract<ToWorker, { t: 'init' }>);
    else if (deliver !== undefined) deliver(message);
    else inbox.push(message);
  });
  process.send?.({ t: 'hello' } satisfies ToPrimary);
  const { settings, challenges } = await init;
  const log = withFields(createStreamLogger(process.stderr, settings.logLevel), { worker: cluster.worker?.id });
  let leaving = false;
  process.prependOnceListener('disconnect', () => {
    if (!leaving) log.log('warn', 'worker-orphaned', {});
  });
  // Marks the disconnect as this worker's own, so node:cluster lets the process end with `code`.
  const leave = (code: number): number => {
    leaving = true;
    cluster.worker?.disconnect();
    return code;
  };
  let worker: WorkerProcess;
  try {
    worker = await WorkerProcess.start({ settings, challenges }, (message) => process.send?.(message), log);
  } catch {
    // The primary was told why (`failed`) and reports it.
    return leave(1);
  }
  deliver = (message) => worker.receive(message);
  for (const message of inbox.splice(0)) worker.receive(message);
  await worker.closed;
  return leave(0);
}
