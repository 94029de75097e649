/** What the TLS port did, summed over every process that serves it. */
export interface Activity {
  readonly served: number;
  readonly passed: number;
  readonly rejected: number;
  /** Handshakes served per SNI value, whether deployed or from `--watch-dir` (absent: none yet). */
  readonly servedBySni: ReadonlyMap<string, number>;
}
