import { AlpnResponderError } from '../../src/errors.js';

/** Runs a parser: `accepted`, or the code of the AlpnResponderError it threw (anything else is rethrown). */
export function codeOf(parse: () => unknown): string {
  try {
    parse();
    return 'accepted';
  } catch (error) {
    if (!(error instanceof AlpnResponderError)) throw error;
    return error.code;
  }
}

/** Runs a parser: `accepted`, or the message of what it threw. */
export function messageOf(parse: () => unknown): string {
  try {
    parse();
    return 'accepted';
  } catch (error) {
    return (error as Error).message;
  }
}
