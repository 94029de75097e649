/**
 * The kinds of value a `serve` option takes (duration, count, size, enum, path, …): each checks one raw value — a
 * command-line or environment string, or a config-file JSON value — and either returns it typed or throws
 * {@link BadValue} saying what is allowed. Pure: users and groups are looked up in account-file text the caller reads.
 */
import { AlpnResponderError } from '../errors.js';

/**
 * A raw value is refused: `allowed` says what would have been accepted, `reason` (optional) what is wrong, `item`
 * (optional) which item of a list.
 */
export class BadValue extends Error {
  constructor(
    readonly allowed: string,
    readonly reason?: string,
    readonly item?: string,
  ) {
    super(reason === undefined ? allowed : `${allowed} (${reason})`);
    this.name = 'BadValue';
  }
}

/** What the table and the property tests know of a kind: its name and, for numbers, its range. */
export interface KindInfo {
  readonly name: 'duration' | 'count' | 'size' | 'enum' | 'flag' | 'path' | 'text' | 'address' | 'backend' | 'mode' | 'group' | 'user' | 'url';
  /** Smallest and largest accepted value (milliseconds for durations). */
  readonly min?: number;
  readonly max?: number;
  /** Accepted words of an enum. */
  readonly choices?: readonly string[];
}

/** Longest scalar value read: far beyond any real one, and a bound on what an error message quotes. */
const MAX_TEXT = 4096;

/**
 * The text of a scalar: a string as it is, a finite number as written in JSON (`3600` and `"3600"` are the same
 * value). Booleans, arrays, objects and null are refused.
 */
export function scalarText(raw: unknown, allowed: string): string {
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  if (typeof raw !== 'string') throw new BadValue(allowed, `a ${describeType(raw)} is not one`);
  if (raw.length > MAX_TEXT) throw new BadValue(allowed, `longer than ${MAX_TEXT} characters`);
  return raw.trim();
}

function describeType(raw: unknown): string {
  if (raw === null) return 'null';
  if (Array.isArray(raw)) return 'list';
  return typeof raw === 'number' ? 'non-finite number' : typeof raw;
}

/** Unit suffixes of a duration, in milliseconds. A bare number is seconds: the unit these options always had. */
const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Writes milliseconds the way an operator would: `10s`, `500ms`, `5m`, `7d` as `168h`. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * A duration, returned in milliseconds: `500ms`, `10s`, `5m`, `1h`, or a bare number of seconds (`10`, `0.5`),
 * within `min`..`max` ms; `wholeSeconds` refuses fractions of a second (the TTL is sent to the store in seconds).
 */
export function duration(options: { readonly min: number; readonly max: number; readonly wholeSeconds?: boolean }): Kind<number> {
  const allowed = `a duration from ${formatDuration(options.min)} to ${formatDuration(options.max)} such as ${options.wholeSeconds ? '3600s or 1h' : '10s or 500ms'} (a bare number is seconds)`;
  return {
    info: { name: 'duration', min: options.min, max: options.max },
    allowed,
    parse(raw) {
      const match = /^(\d{1,12}(?:\.\d{1,6})?)(ms|s|m|h)?$/.exec(scalarText(raw, allowed));
      if (!match) throw new BadValue(allowed);
      const ms = Number(match[1]) * (UNITS[match[2] ?? 's'] ?? Number.NaN);
      if (!Number.isInteger(ms)) throw new BadValue(allowed, 'not a whole number of milliseconds');
      if (options.wholeSeconds && ms % 1000 !== 0) throw new BadValue(allowed, 'not a whole number of seconds');
      if (ms < options.min || ms > options.max) throw new BadValue(allowed);
      return ms;
    },
  };
}

/** A whole number within `min`..`max`; `unit` names what is counted in the message (`bytes`). */
export function wholeNumber(name: 'count' | 'size', options: { readonly min: number; readonly max: number; readonly unit?: string }): Kind<number> {
  const allowed = `a whole number from ${options.min} to ${options.max}${options.unit === undefined ? '' : ` ${options.unit}`}`;
  return {
    info: { name, min: options.min, max: options.max },
    allowed,
    parse(raw) {
      const text = scalarText(raw, allowed);
      if (!/^\d{1,16}$/.test(text)) throw new BadValue(allowed);
      const value = Number(text);
      if (!Number.isSafeInteger(value) || value < options.min || value > options.max) throw new BadValue(allowed);
      return value;
    },
  };
}

/** A count, or `auto` for what `auto()` says, kept within the same range. */
export function countOrAuto(options: { readonly min: number; readonly max: number }, auto: () => number): Kind<number> {
  const count = wholeNumber('count', options);
  const allowed = `${count.allowed}, or auto`;
  return {
    info: count.info,
    allowed,
    parse(raw, context) {
      if (typeof raw === 'string' && raw.trim() === 'auto') return Math.min(Math.max(auto(), options.min), options.max);
      try {
        return count.parse(raw, context);
      } catch (error) {
        if (error instanceof BadValue) throw new BadValue(allowed, error.reason, error.item);
        throw error;
      }
    },
  };
}

/** One word of `choices`. */
export function oneOf<const T extends string>(choices: readonly T[]): Kind<T> {
  const allowed = `one of ${choices.join(', ')}`;
  return {
    info: { name: 'enum', choices },
    allowed,
    parse(raw) {
      const text = scalarText(raw, allowed);
      if (!(choices as readonly string[]).includes(text)) throw new BadValue(allowed);
      return text as T;
    },
  };
}

/** On or off: JSON `true`/`false`, or `true`, `false`, `1`, `0` as text (the environment). */
export const flag: Kind<boolean> = {
  info: { name: 'flag' },
  allowed: 'true or false',
  parse(raw) {
    if (typeof raw === 'boolean') return raw;
    const text = scalarText(raw, 'true or false');
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
    throw new BadValue('true or false');
  },
};

/** Text matching `pattern`, described by `allowed`. */
export function text(pattern: RegExp, allowed: string, name: KindInfo['name'] = 'text'): Kind<string> {
  return {
    info: { name },
    allowed,
    parse(raw) {
      const value = scalarText(raw, allowed);
      if (!pattern.test(value)) throw new BadValue(allowed);
      return value;
    },
  };
}

/** A file-system path: not empty, no NUL byte (which no system call takes). */
export const filePath: Kind<string> = text(/^[^\0]+$/, 'a file-system path', 'path');

/**
 * Runs `parse` and turns the project's own validation error (ERR_BAD_LISTEN_ADDRESS, ERR_BAD_GROUP, …) into a
 * {@link BadValue} that keeps its explanation.
 */
export function explained<T>(allowed: string, parse: () => T, item?: string): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof AlpnResponderError) throw new BadValue(allowed, stripOptionPrefix(error.message), item);
    throw error;
  }
}

/** `--user "x": no user …` → `no user …`: the option and value are named once, by the caller. */
function stripOptionPrefix(message: string): string {
  return message.replace(/^--[a-z-]+ ("(?:[^"\\]|\\.)*"|\S+):? /, '');
}

/** A list: a JSON array of strings, or one string of items separated by spaces or commas (the environment). */
export function listItems(raw: unknown, allowed: string): string[] {
  const items = Array.isArray(raw) ? raw : [raw];
  return items.flatMap((item) => {
    if (typeof item !== 'string') throw new BadValue(allowed, `a ${describeType(item)} is not one`);
    if (item.length > MAX_TEXT) throw new BadValue(allowed, `longer than ${MAX_TEXT} characters`);
    return item.split(/[\s,]+/).filter((part) => part !== '');
  });
}

/** One kind of value. `parse` may be async where a lookup needs files (users, groups). */
export interface Kind<T> {
  readonly info: KindInfo;
  /** Shown after the option and value when a value is refused. */
  readonly allowed: string;
  parse(raw: unknown, context: ParseContext): T | Promise<T>;
}

/** What parsing may consult besides the value. */
export interface ParseContext {
  /** The text of /etc/passwd and /etc/group, read once per start or reload (only when a user or group is named). */
  accounts(): Promise<{ readonly passwd: string; readonly group: string }>;
}
