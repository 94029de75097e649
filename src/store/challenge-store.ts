import { EventEmitter } from 'node:events';
import type { Challenge } from '../challenge/challenge.js';
import type { Identifier } from '../challenge/identifier.js';
import type { MAX_DEPLOYS_PER_NAME } from '../constants.js';

/** Why a challenge left the store. */
export type RemovalReason = 'clean' | 'expired';

/**
 * Events every store emits, so caches on this node can follow changes made anywhere. `put` and `delete` follow what
 * is served: `put` when a name's served challenge is now this one (a new deploy, a deploy again, or an older deploy
 * served again because the newer one was cleaned or expired), `delete` when nothing is served for the name any more.
 * `stack` is any other change of a name's deploys (an older one added, removed or expired).
 */
export interface ChallengeStoreEvents {
  put: [challenge: Challenge];
  delete: [sni: string, reason: RemovalReason];
  stack: [sni: string];
}

/**
 * Where deployed challenges live. Keys are the SNI value the CA sends: the DNS name, or the reverse-DNS name of an IP
 * identifier (RFC 8738 §6). Each name keeps its last few deploys ({@link MAX_DEPLOYS_PER_NAME}), newest last: the
 * newest live one is served, so that two runs of a client that overlap (deploy A, deploy B, clean A) still serve B.
 */
export interface ChallengeStore extends EventEmitter<ChallengeStoreEvents> {
  /**
   * Deploys a challenge, which becomes the one served for its name; resolves once it is stored. The same digest
   * deployed again is moved up and gets the new lifetime; past {@link MAX_DEPLOYS_PER_NAME} the oldest is dropped.
   * `ttlSeconds` bounds its life.
   */
  put(identifier: Identifier, digest: Uint8Array, ttlSeconds: number): Promise<Challenge>;
  /**
   * Without `digest`, removes every deploy of the name; with it, only that deploy (the one before it is served again
   * if it was the newest). Resolves true when something was removed.
   */
  delete(sni: string, digest?: Uint8Array): Promise<boolean>;
  /** The challenge served for an SNI value (its newest live deploy), if any. */
  get(sni: string): Challenge | undefined;
  /** The challenge served for every name. */
  list(): Challenge[];
  /** Every live deploy, each name's oldest first. */
  listAll(): Challenge[];
  /** Number of names served. */
  readonly size: number;
  /** Stops timers; idempotent. */
  close(): Promise<void>;
}
