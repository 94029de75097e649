import { AlpnResponderError } from '../errors.js';

/**
 * Checks a `serve` limit flag (`--max-connections` and the like): a whole number of at least 1. Refused rather than
 * defaulted because a limit that came out NaN or 0 would silently mean "no limit" or "refuse everything".
 */
export function parseLimit(flag: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new AlpnResponderError('ERR_BAD_LIMIT', `--${flag} ${String(value)} is not a whole number of at least 1`);
  }
  return value;
}
