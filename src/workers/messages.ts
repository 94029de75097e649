/**
 * What the primary and its worker processes (`--workers N`) tell each other over the IPC channel. Plain JSON: a
 * challenge travels as its identifier text, digest hex and expiry, with the certificate and key PEM the primary
 * built once for every worker.
 */
import { digestFromHex, digestToHex } from '../challenge/authorization.js';
import { formatIdentifier, parseIdentifier } from '../challenge/identifier.js';
import { AlpnResponderError } from '../errors.js';
import type { LogLevel } from '../log.js';
import type { ListenAddress } from '../net/listen-address.js';
import type { ListenTarget } from '../net/listeners.js';
import type { WireConnectionSettings } from '../net/tls-port-settings.js';
import type { RunAs } from '../privilege/run-as.js';
import type { Challenge } from '../challenge/challenge.js';

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

/** Everything a worker needs to start. */
export interface WorkerSettings {
  /** Addresses to listen on, or descriptors passed by systemd (the primary holds them; cluster shares them). */
  readonly listen: readonly ListenTarget[];
  readonly connection: WireConnectionSettings;
  readonly runAs: RunAs | undefined;
  readonly logLevel: LogLevel;
}

/** Counters a worker reports. */
export interface WireActivity {
  readonly served: number;
  readonly passed: number;
  readonly rejected: number;
  readonly servedBySni: readonly (readonly [string, number])[];
}

/** Primary → worker. Messages with an `id` are answered with `ack` (or `activity`) carrying it. */
export type ToWorker =
  | {
      readonly t: 'init';
      readonly settings: WorkerSettings;
      readonly challenges: readonly WireCertificate[];
      /** False while the daemon starts: hold connections until `open` (the restored challenges are not all sent yet). */
      readonly open: boolean;
    }
  /** Start-up is complete: serve the connections held since listening, and every one after. */
  | { readonly t: 'open' }
  | { readonly t: 'put'; readonly id: number; readonly certificate: WireCertificate }
  | { readonly t: 'delete'; readonly sni: string }
  | { readonly t: 'configure'; readonly connection: WireConnectionSettings }
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
