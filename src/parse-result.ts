/**
 * The three-way result every byte parser returns: a complete value (with how many bytes it used), a request for
 * more bytes, or a verdict that the input can never become valid.
 */
export type ParseResult<T> =
  | { readonly status: 'complete'; readonly value: T; readonly length: number }
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid'; readonly reason: string };

/** Shared singleton: "need more bytes" carries no data. */
export const INCOMPLETE: ParseResult<never> = Object.freeze({ status: 'incomplete' });

/** Builds an `invalid` result. */
export function invalid(reason: string): ParseResult<never> {
  return { status: 'invalid', reason };
}

/** Builds a `complete` result. */
export function complete<T>(value: T, length: number): ParseResult<T> {
  return { status: 'complete', value, length };
}

/** A verdict that stops a parser early: more bytes are needed, or the input can never become valid. */
export type Stop = ParseResult<never>;

/** Tells a {@link Stop} from a parser's intermediate value. */
export function isStop(value: unknown): value is Stop {
  return typeof value === 'object' && value !== null && 'status' in value;
}
