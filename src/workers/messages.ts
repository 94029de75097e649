/**
 * What the primary and its worker processes (`--workers N`) tell each other over the IPC channel. Plain JSON: a
 * challenge travels as its identifier text, digest hex and expiry, with the certificate and key PEM the primary
 * built once for every worker.
 */
import type { DaemonOptions } from '../config/serve-options.js';
import { digestFromHex, digestToHex } from '../challenge/authorization.js';
import { formatIdentifier, parseIdentifier } from '../challenge/identifier.js';
import { AlpnResponderError } from '../errors.js';
import type { Logger, LogLevel } from '../log.js';
import { parseBackends } from '../net/backends.js';
import type { ConnectionHandlerOptions } from '../net/connection-handler.js';
import type { ReadyChallenge } from '../net/context-table.js';
import type { ListenAddress } from '../net/listen-address.js';
import type { ListenTarget } from '../net/listeners.js';
import type { RunAs } from '../privilege/run-as.js';
import type { Challenge } from '../store/challenge-store.js';

/** A challenge as it crosses the channel. */
export interface WireChallenge {
  readonly identifier: string;
  readonly digest: string;
  readonly expiresAt: string;
}

/** A challenge with its certificate, ready for a worker to serve. */
export interface WireCertificate extends WireChallenge {
  readonly certPem: string;
  readonly keyPem: string;
}

/** The daemon options each process serving the TLS port needs (the ones a reload, SIGHUP, may change). */
type ConnectionOption =
  | 'backendProxyProtocol'
  | 'acceptProxyProtocol'
  | 'maxHelloBytes'
  | 'helloTimeoutMs'
  | 'handshakeTimeoutMs'
  | 'backendConnectTimeoutMs'
  | 'idleTimeoutMs'
  | 'maxConnections'
  | 'maxConnectionsPerSource'
  | 'handshakeRate'
  | 'handshakeBurst';

/**
 * Settings of the TLS port, as sent to each worker: the daemon's options (see config/serve-options.ts), with both
 * connection limits already divided among the workers (the handshake rate and burst are not: each worker keeps
 * its own buckets) and the `--backend` values, which each worker parses again.
 */
export type WireConnectionSettings = Pick<DaemonOptions, ConnectionOption> & { readonly backends: readonly string[] };

/** Everything a worker needs to start. */
export interface WorkerSettings {
  /** Addresses to listen on, or descriptors passed by systemd (the primary holds them; cluster shares them). */
  readonly listen: readonly ListenTarget[];
  readonly connection: WireConnectionSettings;
  readonly watchDir: string | undefined;
  readonly maxChallenges: number;
  readonly runAs: RunAs | undefined;
  readonly logLevel: LogLevel;
}

/** Counters a worker reports. */
export interface WireActivity {
  readonly served: number;
  readonly passed: number;
  readonly rejected: number;
  readonly servedBySni: readonly (readonly [string, number])[];
  readonly watched: readonly { readonly challenge: WireChallenge; readonly served: number }[];
}

/** Primary → worker. Messages with an `id` are answered with `ack` (or `activity`) carrying it. */
export type ToWorker =
  | { readonly t: 'init'; readonly settings: WorkerSettings; readonly challenges: readonly WireCertificate[] }
  | { readonly t: 'put'; readonly id: number; readonly certificate: WireCertificate }
  | { readonly t: 'delete'; readonly sni: string }
  | { readonly t: 'configure'; readonly connection: WireConnectionSettings }
  | { readonly t: 'rescan' }
  | { readonly t: 'activity'; readonly id: number }
  | { readonly t: 'close'; readonly timeoutMs: number };

/** Worker → primary. */
export type ToPrimary =
  /** Sent first, once the worker listens for messages (earlier ones would be lost): the primary answers `init`. */
  | { readonly t: 'hello' }
  | { readonly t: 'ready'; readonly addresses: readonly ListenAddress[] }
  | { readonly t: 'failed'; readonly code: string; readonly message: string; readonly remedy?: string }
  | { readonly t: 'ack'; readonly id: number; readonly error?: string }
  | { readonly t: 'activity'; readonly id: number; readonly activity: WireActivity };

/** The connection handler's options from the TLS-port settings (as sent to workers, or this process's own). */
export function connectionHandlerOptions(
  settings: WireConnectionSettings,
  lookup: (sni: string) => ReadyChallenge | undefined,
  log: Logger,
): ConnectionHandlerOptions {
  return {
    lookup,
    log,
    backends: parseBackends(settings.backends),
    hello: { maxBytes: settings.maxHelloBytes, timeoutMs: settings.helloTimeoutMs },
    limits: { maxConnections: settings.maxConnections, maxPerSource: settings.maxConnectionsPerSource },
    handshakeRate: { perSecond: settings.handshakeRate, burst: settings.handshakeBurst },
    handshakeTimeoutMs: settings.handshakeTimeoutMs,
    acceptProxyProtocol: settings.acceptProxyProtocol,
    backendProxyProtocol: settings.backendProxyProtocol,
    backendConnectTimeoutMs: settings.backendConnectTimeoutMs,
    idleTimeoutMs: settings.idleTimeoutMs,
  };
}

/** A challenge for the channel. */
export function toWire(challenge: Challenge): WireChallenge {
  return {
    identifier: formatIdentifier(challenge.identifier),
    digest: digestToHex(challenge.digest),
    expiresAt: challenge.expiresAt.toISOString(),
  };
}

/** A challenge back from the channel; the primary validated it when it was deployed. */
export function fromWire(wire: WireChallenge): Challenge {
  const digest = digestFromHex(wire.digest);
  if (digest === undefined) throw new AlpnResponderError('ERR_WORKER', `malformed digest for ${wire.identifier} from the primary`);
  return { identifier: parseIdentifier(wire.identifier), digest, expiresAt: new Date(wire.expiresAt) };
}

/** True for an object with a string `t`: the only shape either side sends. */
export function isMessage(value: unknown): value is { readonly t: string } {
  return typeof value === 'object' && value !== null && typeof (value as { t?: unknown }).t === 'string';
}
