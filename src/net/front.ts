import type { Activity } from './activity.js';
import type { CertificateSink } from './context-table.js';
import type { ListenAddress } from './listen-address.js';
import type { WireConnectionSettings } from './tls-port-settings.js';

/**
 * What serves the TLS port, as the daemon drives it: this process ({@link TlsPort}, `--workers 1`) or its worker
 * processes (`WorkerFront`, `--workers N`). The daemon starts either the same way and feeds it certificates.
 */
export interface Front {
  /** Where built challenge certificates go to be served. */
  readonly sink: CertificateSink;
  /** The addresses listened on (port 0 resolved); none before {@link start}. */
  readonly listeners: { readonly addresses: readonly ListenAddress[] };
  /** Connections open now, when this process knows (workers count their own). */
  readonly open: number | undefined;
  /** Processes serving the TLS port now. */
  readonly serving: number;
  /** Listens (unless sockets were passed); called before root is given up. Rejects, having opened nothing, if it cannot. */
  start(): Promise<void>;
  /** Counters summed over every serving process. */
  activity(): Promise<Activity>;
  /** New settings (reload) for connections accepted from now on. */
  reconfigure(settings: WireConnectionSettings): void;
  /** Stops accepting, lets open connections finish for up to `timeoutMs`, drops the rest. */
  close(timeoutMs: number): Promise<void>;
}
