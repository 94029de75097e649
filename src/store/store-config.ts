/**
 * The `serve` flags that choose a shared store (`--store`, `--store-prefix`, `--store-fallback`, `--store-timeout`),
 * validated into one setting.
 */
import { AlpnResponderError } from '../errors.js';
import { parseRedisTarget, type RedisTarget } from './redis-target.js';

/** What to do when Redis cannot be reached at start: exit, or serve local deploys from memory. */
export type StoreFallback = 'none' | 'memory';

/** The `--store-fallback` values. */
export const STORE_FALLBACKS: readonly StoreFallback[] = ['none', 'memory'];

/** Default `--store-prefix`. */
export const DEFAULT_STORE_PREFIX = 'alpn-responder:';

/** Default `--store-timeout`, seconds: a LAN Redis answers in a millisecond; a deploy must not hang the hook. */
export const DEFAULT_STORE_TIMEOUT_SECONDS = 2;

/** Longest `--store-timeout`, seconds. */
const MAX_STORE_TIMEOUT_SECONDS = 600;

/** Printable ASCII without spaces, as Redis key and channel names are written in logs and ACL rules. */
const PREFIX = /^[!-~]{1,64}$/;

/** A shared store, as `serve` was told. */
export interface SharedStoreConfig {
  readonly target: RedisTarget;
  /** Starts every key and the channel name. */
  readonly prefix: string;
  readonly fallback: StoreFallback;
  /** Bounds connecting and every Redis command. */
  readonly timeoutMs: number;
}

/** The flags as yargs (or a config file) hands them over. */
export interface StoreFlags {
  readonly store?: string | undefined;
  readonly storePrefix?: string | undefined;
  readonly storeFallback?: string | undefined;
  readonly storeTimeout?: number | undefined;
  /** `--state`, which cannot be combined with `--store`. */
  readonly state: string | undefined;
}

/**
 * The shared store `serve` should use, or undefined without `--store` (the other store flags are then ignored).
 *
 * @throws AlpnResponderError ERR_BAD_STORE for a bad URL, prefix or fallback, or `--store` with `--state`;
 *   ERR_BAD_TIMEOUT for a bad `--store-timeout`.
 */
export function parseStoreConfig(flags: StoreFlags): SharedStoreConfig | undefined {
  if (flags.store === undefined || flags.store === '') return undefined;
  const target = parseRedisTarget(flags.store);
  if (flags.state !== undefined && flags.state !== '') {
    throw new AlpnResponderError(
      'ERR_BAD_STORE',
      '--store and --state cannot be combined: Redis keeps the challenges for every node (configure its persistence, see docs/cluster.md)',
    );
  }
  const prefix = flags.storePrefix ?? DEFAULT_STORE_PREFIX;
  if (!PREFIX.test(prefix)) {
    throw new AlpnResponderError('ERR_BAD_STORE', `--store-prefix ${JSON.stringify(prefix.slice(0, 80))} must be 1 to 64 printable ASCII characters without spaces`);
  }
  const fallback = flags.storeFallback ?? 'none';
  if (!(STORE_FALLBACKS as readonly string[]).includes(fallback)) {
    throw new AlpnResponderError('ERR_BAD_STORE', `--store-fallback ${JSON.stringify(fallback.slice(0, 40))} is not one of ${STORE_FALLBACKS.join(', ')}`);
  }
  const seconds = flags.storeTimeout ?? DEFAULT_STORE_TIMEOUT_SECONDS;
  if (!(Number.isFinite(seconds) && seconds > 0 && seconds <= MAX_STORE_TIMEOUT_SECONDS)) {
    throw new AlpnResponderError('ERR_BAD_TIMEOUT', `--store-timeout ${String(seconds)} is not a number of seconds above 0 and at most ${MAX_STORE_TIMEOUT_SECONDS}`);
  }
  return { target, prefix, fallback: fallback as StoreFallback, timeoutMs: Math.round(seconds * 1000) };
}
