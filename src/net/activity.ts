import type { Challenge } from '../challenge/challenge.js';

/** What the TLS port did, summed over every process that serves it. */
export interface Activity {
  readonly served: number;
  readonly passed: number;
  readonly rejected: number;
  /** Handshakes served per deployed SNI value (absent: none yet). */
  readonly servedBySni: ReadonlyMap<string, number>;
  /** Challenges served from `--watch-dir`, with their handshakes served. */
  readonly watched: readonly { readonly challenge: Challenge; readonly served: number }[];
}
