/**
 * The TLS port as one process serves it: listeners, the connection handler and the challenge contexts. The daemon
 * runs one with `--workers 1` (as its {@link Front}); each worker process of `--workers N` runs one.
 */
import type { Server, Socket } from 'node:net';
import type { Activity } from './activity.js';
import type { Logger } from '../log.js';
import { ConnectionHandler } from './connection-handler.js';
import type { ContextTable } from './context-table.js';
import type { Front } from './front.js';
import type { ListenAddress } from './listen-address.js';
import { Listeners, type ListenTarget } from './listeners.js';
import type { StartGate } from '../start-gate.js';
import { connectionHandlerOptions, type WireConnectionSettings } from './tls-port-settings.js';

/** One error listener for every socket that only needs one (no closure per connection). */
const ignoreError = (): void => undefined;

/** Options of {@link TlsPort}. */
export interface TlsPortOptions {
  /** The challenge certificates served. */
  readonly contexts: ContextTable;
  readonly settings: WireConnectionSettings;
  /** What {@link TlsPort.start} listens on, unless sockets were adopted. */
  readonly listen: readonly ListenTarget[];
  readonly log: Logger;
  /** Connections accepted before it opens wait for it; without a gate they are served at once. */
  readonly gate?: StartGate;
}

/** Serves the TLS port from this process. */
export class TlsPort implements Front {
  readonly #connections: ConnectionHandler;
  readonly #contexts: ContextTable;
  readonly #log: Logger;
  readonly #gate: StartGate | undefined;
  readonly #listen: readonly ListenTarget[];
  readonly #lookup = (sni: string) => this.#contexts.lookup(sni);
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

  constructor(options: TlsPortOptions) {
    this.#contexts = options.contexts;
    this.#listen = options.listen;
    this.#log = options.log;
    this.#gate = options.gate;
    this.#connections = new ConnectionHandler(connectionHandlerOptions(options.settings, this.#lookup, options.log));
  }

  /** Where certificates go to be served: this process's contexts. */
  get sink(): ContextTable {
    return this.#contexts;
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

  /** Listens on the targets given, unless sockets were adopted. */
  async start(): Promise<void> {
    this.#listeners ??= await Listeners.bind(this.#listen, this.#onConnection, this.#log);
  }

  /** Counters, and handshakes per name served. */
  activity(): Promise<Activity> {
    return Promise.resolve({ ...this.#connections.stats, servedBySni: this.#contexts.servedBySni() });
  }

  /** New settings (reload) for connections accepted from now on. */
  reconfigure(settings: WireConnectionSettings): void {
    this.#connections.reconfigure(connectionHandlerOptions(settings, this.#lookup, this.#log));
  }

  /** Stops accepting, lets open connections finish for up to `timeoutMs`, then drops the rest. */
  async close(timeoutMs: number): Promise<void> {
    const listenersClosed = this.#listeners?.close();
    await this.#connections.drain(timeoutMs);
    if (this.#connections.active > 0) this.#log.log('warn', 'shutdown-dropped', { open: this.#connections.active });
    this.#connections.destroyAll();
    await listenersClosed;
    this.#contexts.clear();
  }
}
