/**
 * One worker process of `--workers N`: listens on the shared sockets, serves the challenge certificates the primary
 * sends, passes everything else to the backends, and reports its counters. It does what the primary says and
 * nothing on its own: it starts when told (`init`), stops when told (`close`) or when the primary is gone.
 */
import { AlpnResponderError } from '../errors.js';
import type { Logger } from '../log.js';
import { ContextTable } from '../net/context-table.js';
import { dropPrivileges } from '../privilege/drop.js';
import { TlsPort } from '../net/tls-port.js';
import { StartGate } from '../start-gate.js';
import { fromWire, isMessage, type ToPrimary, type ToWorker, type WireCertificate, type WorkerSettings } from './messages.js';

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
    private readonly gate: StartGate,
    private readonly send: SendToPrimary,
  ) {}

  /**
   * Serves what `init` says: loads its challenges, gives up root (`--user`), listens, then
   * tells the primary `ready` — or `failed` with the reason, and throws.
   */
  static async start(
    init: { readonly settings: WorkerSettings; readonly challenges: readonly WireCertificate[]; readonly open: boolean },
    send: SendToPrimary,
    log: Logger,
  ): Promise<WorkerProcess> {
    const { settings } = init;
    const contexts = new ContextTable();
    let port: TlsPort | undefined;
    // Until the primary has sent what it restored at start (`open`), connections wait: none gets a refusal for a
    // challenge that is merely not here yet.
    const gate = new StartGate();
    try {
      port = new TlsPort({ contexts, settings: settings.connection, listen: settings.listen, log, gate });
      for (const certificate of init.challenges) await contexts.put(fromWire(certificate), certificate);
      // Root is given up before listening: the primary opens (or already holds) the shared sockets, so this worker
      // needs no privilege to listen. Forked after the primary gave up root already (a replacement), there is
      // nothing left to give up.
      if (settings.runAs !== undefined && process.getuid?.() === 0) dropPrivileges(settings.runAs, log);
      await port.start();
      send({ t: 'ready', addresses: port.listeners.addresses });
      if (init.open) gate.open();
      return new WorkerProcess(port, contexts, gate, send);
    } catch (error) {
      gate.fail();
      await port?.close(0);
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
      case 'open':
        this.gate.open();
        return;
      case 'configure':
        this.port.reconfigure(command.connection);
        return;
      case 'activity':
        void this.port.activity().then(({ served, passed, rejected, servedBySni }) =>
          this.send({ t: 'activity', id: command.id, activity: { served, passed, rejected, servedBySni: [...servedBySni] } }),
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
