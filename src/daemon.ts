/**
 * Composition root: builds the store, certificate cache, front (this process or its workers), `--watch-dir` and
 * control socket, and owns the lifecycle (running → closing → closed) and the process signals. Nothing else in the
 * project touches signals.
 */
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RESTART_ONLY, type DaemonOptions } from './config/serve-options.js';
import { createCommandHandler } from './control/handler.js';
import { ControlServer, type ControlServerOptions, type LineHandler } from './control/server.js';
import { AlpnResponderError, hasCode } from './errors.js';
import { createFront, sortUnopened, wireConnectionSettings } from './front.js';
import { tuneHeap } from './heap.js';
import type { Logger } from './log.js';
import type { Front } from './net/front.js';
import { formatListenAddress, type ListenAddress } from './net/listen-address.js';
import { dropPrivileges, requireRoot } from './privilege/drop.js';
import { StartGate } from './start-gate.js';
import type { PassedDescriptor } from './systemd/listen-fds.js';
import { takeListenFds } from './systemd/passed-sockets.js';
import { CertificateCache } from './store/certificate-cache.js';
import type { ChallengeStore } from './store/challenge-store.js';
import { FileJournal } from './store/file-journal.js';
import { JournaledChallengeStore } from './store/journaled-store.js';
import { MemoryChallengeStore } from './store/memory-store.js';
import { openSharedStore } from './store/shared-store.js';
import { VERSION } from './version.js';
import { DeployFirst } from './watch/deploy-first.js';
import { WatchDir } from './watch/watch-dir.js';

export type { DaemonOptions } from './config/serve-options.js';

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

/** What a running daemon holds. */
interface Parts {
  readonly front: Front;
  readonly control: ControlServer;
  readonly store: ChallengeStore;
  readonly cache: CertificateCache;
  readonly watchDir: WatchDir | undefined;
  /** Settles if the TLS port can no longer be served (every worker lost, none can start again). */
  readonly lost: Promise<void>;
}

/** A running responder. */
export class Daemon {
  #state: DaemonState = 'running';
  #closing: Promise<void> | undefined;
  #options: DaemonOptions;

  private constructor(
    private readonly parts: Parts,
    private readonly log: Logger,
    options: DaemonOptions,
  ) {
    this.#options = options;
  }

  /** The control socket. */
  get control(): ControlServer {
    return this.parts.control;
  }

  /** Settles if the TLS port can no longer be served (every worker lost, none can start again). */
  get lost(): Promise<void> {
    return this.parts.lost;
  }

  /** The TLS listeners' addresses (port 0 resolved). */
  get listeners(): { readonly addresses: readonly ListenAddress[] } {
    return this.parts.front.listeners;
  }

  /**
   * Starts every part, or none: a failure closes what was already opened. `passed` are the sockets systemd passed
   * (see {@link takeListenFds}): TLS listeners among them replace `listen`, a control socket replaces `controlPath`.
   * With `workers` > 1 the TLS port is served by that many worker processes (see front.ts).
   */
  static async start(options: DaemonOptions, log: Logger, passed: readonly PassedDescriptor[] = []): Promise<Daemon> {
    const started = performance.now();
    if (options.runAs !== undefined) requireRoot(options.runAs);
    // Sorting first reports a bad socket unit before any work.
    sortUnopened(passed);
    // The state file is opened only once root is given up (below), so it is read and written with the serving
    // user's rights alone and its first write proves they suffice; the other stores are opened before anything is
    // bound, so an unreachable Redis stops start-up early.
    let store: ChallengeStore | undefined = options.statePath === undefined ? await openStore(options, log) : undefined;
    let lose: () => void = () => undefined;
    const lost = new Promise<void>((resolve) => (lose = resolve));
    for (const rule of options.backends.rules) log.log('info', 'backend', { rule, proxy_protocol: options.backendProxyProtocol });
    // Nothing is served until every socket is open and, with --user, root is given up.
    const gate = new StartGate();
    let front: Front | undefined;
    let control: ControlServer | undefined;
    let cache: CertificateCache | undefined;
    let watchDir: WatchDir | undefined;
    let daemon: Daemon | undefined;
    // Set before the gate opens; the gate holds every command until then.
    let commands: LineHandler | undefined;
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
    try {
      const created = createFront(options, passed, log, gate, () => lose());
      const serving = (front = created.front);
      control = created.control ? ControlServer.adopt(created.control, controlOptions) : await ControlServer.listen(controlOptions);
      // With workers, they listen (through this process, as root if started so) and give up root themselves.
      await serving.start();
      if (options.runAs !== undefined) dropPrivileges(options.runAs, log);
      // Deploys and --watch-dir feed the front the same way; a deploy wins over a file for its name.
      const sinks = new DeployFirst(serving.sink, log);
      const opened = (store ??= await openStore(options, log));
      const following = (cache = new CertificateCache(opened, sinks.deploys, log));
      opened.on('delete', (sni, reason) => {
        if (reason === 'expired') log.log('info', 'expire', { sni });
      });
      // After --user: the files are read as the user that keeps reading them, and loaded before anything is served.
      if (options.watchDir !== undefined) {
        watchDir = await WatchDir.open({ dir: options.watchDir, log, maxEntries: options.maxChallenges, sink: sinks.files });
      }
      const watching = watchDir;
      commands = createCommandHandler({
        store: opened,
        cache: following,
        log,
        defaultTtlSeconds: () => (daemon ? daemon.#options : options).ttlSeconds,
        status: () => ({
          version: VERSION,
          uptimeSeconds: Math.round((performance.now() - started) / 1000),
          listeners: serving.listeners.addresses.map(formatListenAddress),
          workers: serving.serving,
        }),
        activity: () => serving.activity(),
        watched: watching && (() => watching.list().map((pair) => pair.challenge)),
      });
      // Everything restored at start is served by every process before anything is let through.
      await following.settled();
      gate.open();
      log.log('info', 'ready', { version: VERSION, workers: options.workers, ms: (performance.now() - started).toFixed(1) });
      daemon = new Daemon({ front: serving, control, store: opened, cache: following, watchDir, lost }, log, options);
      return daemon;
    } catch (error) {
      gate.fail();
      watchDir?.close();
      await Promise.all([front?.close(0), control?.close()]);
      cache?.close();
      await store?.close();
      throw error;
    }
  }

  /**
   * Looks at `--watch-dir` afresh (watching it again, in case it was replaced) and serves exactly the pairs found
   * there; a no-op without `--watch-dir`. For SIGHUP.
   */
  async rescan(): Promise<void> {
    await this.parts.watchDir?.rescan();
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
    this.parts.front.reconfigure(wireConnectionSettings(applied));
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
      const { front, control, cache, store, watchDir } = this.parts;
      this.#state = 'closing';
      this.log.log('info', 'stopping', { open: front.open });
      watchDir?.close();
      await front.close(this.#options.shutdownTimeoutMs);
      await control.close();
      cache.close();
      await store.close();
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
 * A worker ignores signals: they are the primary's to act on — Ctrl-C reaches the whole process group, and a worker
 * stopping on its own would drop connections the primary still counts on. Given to {@link runWorker} by the worker
 * program, so that signals stay in this file.
 */
export function ignoreWorkerSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);
}
