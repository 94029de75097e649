/**
 * One worker process of `--workers N`: listens on the shared sockets, serves the challenge certificates the primary
 * sends, passes everything else to the backends, and reports its counters. It does what the primary says and
 * nothing on its own: it starts when told (`init`), stops when told (`close`) or when the primary is gone.
 */
import { AlpnResponderError } from '../errors.js';
import type { Logger } from '../log.js';
import { ContextTable } from '../net/context-table.js';
import { dropPrivileges } from '../privilege/drop.js';
import { TlsPort } from '../tls-port.js';
import { fromWire, isMessage, toWire, type ToPrimary, type ToWorker, type WireCertificate, type WorkerSettings } from './messages.js';

/** Sends to the primary over Node's IPC channel. */
export type SendToPrimary = (message: ToPrimary) => unknown;

/** A started worker: a {@link TlsPort} the primary drives over IPC. */
export class WorkerProcess {
  #closedByPrimary: () => void = () => undefined;
  /** Resolves once a `close` from the primary has been carried out. */
  readonly closed = new Promise<void>((resolve) => {
    this.#closedByPrimary = resolve;
  });

  private constructor(
    private readonly port: TlsPort,
    private readonly contexts: ContextTable,
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
    const port = new TlsPort(contexts, settings.connection, log);
    try {
      for (const certificate of init.challenges) await contexts.put(fromWire(certificate), certificate);
      // Root is given up and --watch-dir loaded before listening: the primary opens (or already holds) the shared
      // sockets, so this worker needs no privilege to listen, and it accepts nothing it could not serve yet.
      // Forked after the primary gave up root already (a replacement), there is nothing left to give up.
      if (settings.runAs !== undefined && process.getuid?.() === 0) dropPrivileges(settings.runAs, log);
      await port.watch(settings.watchDir, settings.maxChallenges);
      await port.bind(settings.listen);
      send({ t: 'ready', addresses: port.listeners.addresses });
      return new WorkerProcess(port, contexts, send);
    } catch (error) {
      await port.close(0);
      const code = error instanceof AlpnResponderError ? error.code : 'ERR_WORKER';
      const remedy = error instanceof AlpnResponderError ? { remedy: error.remedy } : {};
      send({ t: 'failed', code, message: error instanceof Error ? error.message : String(error), ...remedy });
      throw error;
    }
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
        this.port.reconfigure(command.connection);
        return;
      case 'rescan':
        void this.port.rescan();
        return;
      case 'activity':
        void this.port.activity().then(({ served, passed, rejected, servedBySni, watched }) =>
          this.send({
            t: 'activity',
            id: command.id,
            activity: { served, passed, rejected, servedBySni: [...servedBySni], watched: watched.map((row) => ({ challenge: toWire(row.challenge), served: row.served })) },
          }),
        );
        return;
      case 'close':
        void this.port.close(command.timeoutMs).then(() => this.#closedByPrimary());
        return;
      case 'init':
        // Sent once, before start().
        return;
    }
  }
}
