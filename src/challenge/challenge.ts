import type { Identifier } from './identifier.js';

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
