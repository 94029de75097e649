/**
 * One worker process of `--workers N`: listens on the shared sockets, serves the challenge certificates the primary
 * sends, passes everything else to the backends, and reports its counters. It does what the primary says and
 * nothing on its own: it starts when told (`init`), stops when told (`close`) or when the primary is gone.
 */
import { ConnectionHandler } from '../net/connection-handler.js';
import { ContextTable, type ReadyChallenge } from '../net/context-table.js';
import { Listeners } from '../net/listeners.js';
import type { Logger } from '../log.js';
import { dropPrivileges } from '../privilege/drop.js';
import { WatchDir } from '../store/watch-dir.js';
import { AlpnResponderError } from '../errors.js';
import { connectionHandlerOptions, fromWire, isMessage, toWire, type ToPrimary, type ToWorker, type WireActivity, type WireCertificate, type WorkerSettings } from './messages.js';

/** Sends to the primary over Node's IPC channel. */
export type SendToPrimary = (message: ToPrimary) => unknown;

/** A started worker. */
export class WorkerProcess {
  #closing: Promise<void> | undefined;
  #closedByPrimary: () => void = () => undefined;
  /** Resolves once a `close` from the primary has been carried out. */
  readonly closed = new Promise<void>((resolve) => {
    this.#closedByPrimary = resolve;
  });

  private constructor(
    private readonly listeners: Listeners,
    private readonly connections: ConnectionHandler,
    private readonly contexts: ContextTable,
    private readonly watchDir: WatchDir | undefined,
    private readonly log: Logger,
    private readonly send: SendToPrimary,
  ) {}

  /**
   * Serves what `init` says: loads its challenges, gives up root (`--user`), loads `--watch-dir`, listens, then
   * tells the primary `ready` — or `failed` with the reason, and throws.
   */
  static async start(
    init: { readonly settings: WorkerSettings; readonly challenges: readonly WireCertificate[] },
    send: SendToPrimary,
    log: Logger,
  ): Promise<WorkerProcess> {
    const { settings } = init;
    const contexts = new ContextTable();
    let watchDir: WatchDir | undefined;
    let listeners: Listeners | undefined;
    try {
      for (const certificate of init.challenges) await contexts.put(fromWire(certificate), certificate);
      // Root is given up and --watch-dir loaded before listening: the primary opens (or already holds) the shared
      // sockets, so this worker needs no privilege to listen, and it accepts nothing it could not serve yet.
      // Forked after the primary gave up root already (a replacement), there is nothing left to give up.
      if (settings.runAs !== undefined && process.getuid?.() === 0) dropPrivileges(settings.runAs, log);
      if (settings.watchDir !== undefined) watchDir = await WatchDir.open({ dir: settings.watchDir, log, maxEntries: settings.maxChallenges });
      const watched = watchDir;
      const lookup = (sni: string): ReadyChallenge | undefined => contexts.lookup(sni) ?? watched?.lookup(sni);
      const connections = new ConnectionHandler(connectionHandlerOptions(settings.connection, lookup, log));
      listeners = await Listeners.bind(settings.listen, (socket) => connections.handle(socket), log);
      const worker = new WorkerProcess(listeners, connections, contexts, watchDir, log, send);
      send({ t: 'ready', addresses: listeners.addresses });
      return worker;
    } catch (error) {
      await listeners?.close();
      watchDir?.close();
      const code = error instanceof AlpnResponderError ? error.code : 'ERR_WORKER';
      send({ t: 'failed', code, message: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  }

  /** Stops accepting, lets open connections finish for up to `timeoutMs`, then drops the rest; idempotent. */
  close(timeoutMs: number): Promise<void> {
    this.#closing ??= (async () => {
      const listenersClosed = this.listeners.close();
      await this.connections.drain(timeoutMs);
      if (this.connections.active > 0) this.log.log('warn', 'shutdown-dropped', { open: this.connections.active });
      this.connections.destroyAll();
      await listenersClosed;
      this.watchDir?.close();
      this.contexts.clear();
    })();
    return this.#closing;
  }


  /** Carries out one message from the primary. */
  receive(message: unknown): void {
    if (!isMessage(message)) return;
    const command = message as ToWorker;
    switch (command.t) {
      case 'put':
        this.contexts.put(fromWire(command.certificate), command.certificate).then(
          () => this.send({ t: 'ack', id: command.id }),
          (error: unknown) => this.send({ t: 'ack', id: command.id, error: String(error) }),
        );
        return;
      case 'delete':
        this.contexts.delete(command.sni);
        return;
      case 'configure':
        this.connections.reconfigure(connectionHandlerOptions(command.connection, (sni) => this.contexts.lookup(sni) ?? this.watchDir?.lookup(sni), this.log));
        return;
      case 'rescan':
        void this.watchDir?.rescan();
        return;
      case 'activity':
        this.send({ t: 'activity', id: command.id, activity: this.#activity() });
        return;
      case 'close':
        void this.close(command.timeoutMs).then(() => this.#closedByPrimary());
        return;
      case 'init':
        // Sent once, before start().
        return;
    }
  }

  #activity(): WireActivity {
    const { served, passed, rejected } = this.connections.stats;
    return {
      served,
      passed,
      rejected,
      servedBySni: [...this.contexts.servedBySni()],
      watched: (this.watchDir?.list() ?? []).map((ready) => ({ challenge: toWire(ready.challenge), served: ready.served })),
    };
  }
}
