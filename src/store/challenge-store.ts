import { EventEmitter } from 'node:events';
import type { Identifier } from '../challenge/identifier.js';

/**
 * A deployed challenge: what the CA will ask for (the identifier, keyed by the SNI it sends), the SHA-256 of the
 * key authorization, and when it stops being served. Never a private key: certificates are rebuilt from this.
 */
export interface Challenge {
  readonly identifier: Identifier;
  readonly digest: Uint8Array;
  /** Wall-clock expiry, for display. Expiry itself runs on the monotonic clock so clock jumps cannot shorten it. */
  readonly expiresAt: Date;
}

/** Why a challenge left the store. */
export type RemovalReason = 'clean' | 'expired';

/** Events every store emits, so caches on this node can follow changes made anywhere. */
export interface ChallengeStoreEvents {
  put: [challenge: Challenge];
  delete: [sni: string, reason: RemovalReason];
}

/**
 * Where deployed challenges live. Keys are the SNI value the CA sends: the DNS name, or the reverse-DNS name of an IP
 * identifier (RFC 8738 §6).
 */
export interface ChallengeStore extends EventEmitter<ChallengeStoreEvents> {
  /** Adds or replaces a challenge; resolves once it is stored. `ttlSeconds` bounds its life. */
  put(identifier: Identifier, digest: Uint8Array, ttlSeconds: number): Promise<Challenge>;
  /** Removes a challenge; resolves true when one was there. */
  delete(sni: string): Promise<boolean>;
  /** The live challenge for an SNI value, if any. */
  get(sni: string): Challenge | undefined;
  /** Every live challenge. */
  list(): Challenge[];
  /** Number of live challenges. */
  readonly size: number;
  /** Stops timers; idempotent. */
  close(): Promise<void>;
}
