import path from 'node:path';
import { readAccountFile } from '../account-file.js';
import { parseMode, resolveGroup } from '../control/group.js';
import { parseTtl } from '../control/protocol.js';
import type { DaemonOptions } from '../daemon.js';
import { AlpnResponderError } from '../errors.js';
import type { LogLevel } from '../log.js';
import { parseBackends } from '../net/backends.js';
import { parseLimit } from './parse-limit.js';
import { parseListenAddress } from '../net/listen-address.js';
import { resolveRunAs, type RunAs } from '../privilege/run-as.js';
import { parseStoreConfig } from '../store/store-config.js';

/** `serve` flags as yargs hands them over (strings straight from the command line or the environment). */
export interface ServeArgs {
  readonly listen: readonly string[];
  readonly control: string;
  readonly controlMode: string;
  readonly controlGroup: string | undefined;
  readonly ttl: string;
  readonly maxChallenges: number;
  readonly helloTimeout: number;
  readonly maxHelloBytes: number;
  readonly handshakeTimeout: number;
  readonly backend: readonly string[];
  readonly backendProxyProtocol: 'v1' | 'v2' | undefined;
  readonly acceptProxyProtocol: boolean;
  readonly backendConnectTimeout: number;
  readonly idleTimeout: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerSource: number;
  readonly handshakeRate: number;
  readonly handshakeBurst: number;
  readonly maxControlConnections: number;
  readonly controlRate: number;
  readonly maxControlLine: number;
  readonly shutdownTimeout: number;
  /** `--state`: absent or empty keeps challenges in memory only. */
  readonly state: string | undefined;
  /** `--store URL`: absent or empty keeps challenges local (memory or `--state`). */
  readonly store?: string | undefined;
  /** `--store-prefix`, `--store-fallback`, `--store-timeout`: only read with `--store`. */
  readonly storePrefix?: string | undefined;
  readonly storeFallback?: string | undefined;
  readonly storeTimeout?: number | undefined;
  /** `--watch-dir`: absent or empty watches nothing. */
  readonly watchDir?: string | undefined;
  /** `--user USER[:GROUP]`: absent or empty keeps the starting user. */
  readonly user?: string | undefined;
  /** `--workers N`: processes serving the TLS port. */
  readonly workers: number;
  readonly logLevel: LogLevel;
}

/** Most `--workers`: far beyond any core count this daemon needs, and a bound on processes a typo can fork. */
export const MAX_WORKERS = 64;

function parseWorkers(value: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_WORKERS) {
    throw new AlpnResponderError('ERR_BAD_WORKERS', `--workers ${String(value)} is not a whole number from 1 to ${MAX_WORKERS}`);
  }
  return value;
}

/** The environment variable behind an option: `control-mode` → `ALPN_RESPONDER_CONTROL_MODE`. */
export function envName(option: string): string {
  return `ALPN_RESPONDER_${option.toUpperCase().replaceAll('-', '_')}`;
}

/**
 * Splits list flags given once with commas or spaces, as `ALPN_RESPONDER_LISTEN='0.0.0.0:443 [::]:443'` arrives
 * from the environment.
 */
export function splitList(values: readonly string[]): string[] {
  return values.flatMap((value) => value.split(/[\s,]+/)).filter((value) => value !== '');
}

// Resolved before anything is bound, so an unknown account stops start-up at once.
async function runAsOf(spec: string | undefined): Promise<RunAs | undefined> {
  if (spec === undefined || spec === '') return undefined;
  return resolveRunAs(spec, { passwd: await readAccountFile('/etc/passwd'), group: await readAccountFile('/etc/group') });
}

/** Validates `serve` flags into daemon options; throws AlpnResponderError naming the bad flag's value. */
export async function toDaemonOptions(args: ServeArgs): Promise<DaemonOptions> {
  return {
    listen: splitList(args.listen).map(parseListenAddress),
    controlPath: args.control,
    controlMode: parseMode(args.controlMode),
    controlGid: args.controlGroup === undefined || args.controlGroup === '' ? undefined : await resolveGroup(args.controlGroup),
    ttlSeconds: parseTtl(args.ttl),
    maxChallenges: args.maxChallenges,
    maxHelloBytes: args.maxHelloBytes,
    helloTimeoutMs: args.helloTimeout * 1000,
    handshakeTimeoutMs: args.handshakeTimeout * 1000,
    backends: parseBackends(splitList(args.backend)),
    backendProxyProtocol: args.backendProxyProtocol,
    acceptProxyProtocol: args.acceptProxyProtocol,
    backendConnectTimeoutMs: args.backendConnectTimeout * 1000,
    idleTimeoutMs: args.idleTimeout * 1000,
    maxConnections: parseLimit('max-connections', args.maxConnections),
    maxConnectionsPerSource: parseLimit('max-connections-per-source', args.maxConnectionsPerSource),
    handshakeRate: parseLimit('handshake-rate', args.handshakeRate),
    handshakeBurst: parseLimit('handshake-burst', args.handshakeBurst),
    maxControlConnections: parseLimit('max-control-connections', args.maxControlConnections),
    controlCommandsPerSecond: parseLimit('control-rate', args.controlRate),
    maxControlLine: parseLimit('max-control-line', args.maxControlLine),
    shutdownTimeoutMs: args.shutdownTimeout * 1000,
    // Absolute, so log lines and the moved-aside file name are unambiguous whatever the working directory.
    statePath: args.state === undefined || args.state === '' ? undefined : path.resolve(args.state),
    store: parseStoreConfig(args),
    watchDir: args.watchDir === undefined || args.watchDir === '' ? undefined : path.resolve(args.watchDir),
    runAs: await runAsOf(args.user),
    workers: parseWorkers(args.workers),
    logLevel: args.logLevel,
  };
}
