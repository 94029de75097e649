/**
 * The TLS port as one process serves it: listeners, the connection handler, the challenge contexts and `--watch-dir`.
 * The daemon runs one with `--workers 1`; each worker process of `--workers N` runs one.
 */
import type { Server, Socket } from 'node:net';
import type { Activity } from './activity.js';
import type { Logger } from '../log.js';
import { ConnectionHandler } from './connection-handler.js';
import type { ContextTable, ReadyChallenge } from './context-table.js';
import type { ListenAddress } from './listen-address.js';
import { Listeners, type ListenTarget } from './listeners.js';
import type { StartGate } from '../start-gate.js';
import { WatchDir } from '../watch/watch-dir.js';
import { connectionHandlerOptions, type WireConnectionSettings } from './tls-port-settings.js';

/** One error listener for every socket that only needs one (no closure per connection). */
const ignoreError = (): void => undefined;

/** Serves the TLS port from this process. */
export class TlsPort {
  readonly #connections: ConnectionHandler;
  readonly #contexts: ContextTable;
  readonly #log: Logger;
  readonly #gate: StartGate | undefined;
  readonly #lookup = (sni: string): ReadyChallenge | undefined => this.#contexts.lookup(sni) ?? this.#watchDir?.lookup(sni);
  readonly #onConnection = (socket: Socket): void => {
    const gate = this.#gate;
    if (gate === undefined || gate.isOpen) {
      this.#connections.handle(socket);
      return;
    }
    // Node reads an accepted socket at once: a reset while the gate is still closed must not go unhandled.
    socket.on('error', ignoreError);
    void gate.through(
      () => this.#connections.handle(socket),
      () => void socket.destroy(),
    );
  };
  #listeners: Listeners | undefined;
  #watchDir: WatchDir | undefined;

  /** Connections accepted before `gate` opens wait for it; without a gate they are served at once. */
  constructor(contexts: ContextTable, settings: WireConnectionSettings, log: Logger, gate?: StartGate) {
    this.#contexts = contexts;
    this.#log = log;
    this.#gate = gate;
    this.#connections = new ConnectionHandler(connectionHandlerOptions(settings, this.#lookup, log));
  }

  /** The addresses listened on (port 0 resolved); none before {@link bind} or {@link adopt}. */
  get listeners(): { readonly addresses: readonly ListenAddress[] } {
    return { addresses: this.#listeners?.addresses ?? [] };
  }

  /** Connections open now. */
  get open(): number {
    return this.#connections.active;
  }

  /** Processes serving the TLS port through this object: this one. */
  readonly serving = 1;

  /** Takes over listening sockets systemd passed; synchronous, so queued connections find their handler. */
  adopt(passed: readonly { fd: number; server: Server }[]): void {
    this.#listeners = Listeners.adopt(passed, this.#onConnection, this.#log);
  }

  /** Listens on `targets`, unless sockets were adopted. */
  async bind(targets: readonly ListenTarget[]): Promise<void> {
    this.#listeners ??= await Listeners.bind(targets, this.#onConnection, this.#log);
  }

  /** Starts serving the pairs in `--watch-dir`, if given, at most `maxEntries` of them. */
  async watch(dir: string | undefined, maxEntries: number): Promise<void> {
    if (dir !== undefined) this.#watchDir = await WatchDir.open({ dir, log: this.#log, maxEntries });
  }

  /** Counters, handshakes per deployed name, and the `--watch-dir` pairs with theirs. */
  activity(): Promise<Activity> {
    return Promise.resolve({
      ...this.#connections.stats,
      servedBySni: this.#contexts.servedBySni(),
      watched: this.#watchDir?.list() ?? [],
    });
  }

  /** New settings (reload) for connections accepted from now on. */
  reconfigure(settings: WireConnectionSettings): void {
    this.#connections.reconfigure(connectionHandlerOptions(settings, this.#lookup, this.#log));
  }

  /** Looks at `--watch-dir` afresh (SIGHUP). */
  async rescan(): Promise<void> {
    await this.#watchDir?.rescan();
  }

  /** Stops accepting, lets open connections finish for up to `timeoutMs`, then drops the rest. */
  async close(timeoutMs: number): Promise<void> {
    const listenersClosed = this.#listeners?.close();
    await this.#connections.drain(timeoutMs);
    if (this.#connections.active > 0) this.#log.log('warn', 'shutdown-dropped', { open: this.#connections.active });
    this.#connections.destroyAll();
    await listenersClosed;
    this.#watchDir?.close();
    this.#contexts.clear();
  }
}
