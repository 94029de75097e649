/**
 * Structured event log: one logfmt line per event on stderr, so `journalctl` and `grep event=deploy` both work.
 */

/** Severity of an event. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Field values a log line can carry. */
export type LogValue = string | number | boolean | undefined | null | readonly string[];

/** Receives every event the daemon reports. */
export interface Logger {
  log(level: LogLevel, event: string, fields?: Readonly<Record<string, LogValue>>): void;
}

const LEVEL_RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

// Quote anything a naive `key=value` splitter would mis-read, and escape what would break the one-line rule.
function formatValue(value: Exclude<LogValue, undefined | null>): string {
  const text = Array.isArray(value) ? value.join(',') : String(value);
  if (text !== '' && /^[\w.:/@,[\]+-]+$/.test(text)) return text;
  return JSON.stringify(text);
}

/** Formats one event as a logfmt line (without the newline). Undefined and null fields are left out. */
export function formatLogLine(
  time: Date,
  level: LogLevel,
  event: string,
  fields: Readonly<Record<string, LogValue>> = {},
): string {
  let line = `${time.toISOString()} level=${level} event=${event}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    line += ` ${key}=${formatValue(value)}`;
  }
  return line;
}

/** A logger that writes lines at or above `minLevel` to a stream (stderr by default). */
export function createStreamLogger(
  stream: { write(chunk: string): unknown } = process.stderr,
  minLevel: LogLevel = 'info',
): Logger {
  return {
    log(level, event, fields) {
      if (LEVEL_RANK[level] < LEVEL_RANK[minLevel]) return;
      stream.write(formatLogLine(new Date(), level, event, fields) + '\n');
    },
  };
}

/** A logger that drops everything, for library callers that want silence. */
export const silentLogger: Logger = { log() {} };

/** A logger that adds `fields` to every event (a worker process's `worker=N`). */
export function withFields(log: Logger, fields: Readonly<Record<string, LogValue>>): Logger {
  return { log: (level, event, more) => log.log(level, event, { ...fields, ...more }) };
}
