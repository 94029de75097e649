import type { Logger, LogLevel, LogValue } from './log.js';

/**
 * One log event that may fire thousands of times a second under attack (a limit being hit), written at most once
 * per interval: the first hit is logged at once, later hits in the same interval are only counted, and the count
 * is logged as `suppressed=N` when the interval ends. So a flood costs one line a second, and no hit goes unseen.
 */
export class RateLimitedLog {
  readonly #log: Logger;
  readonly #level: LogLevel;
  readonly #event: string;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #suppressed = 0;
  #lastFields: Readonly<Record<string, LogValue>> = {};

  constructor(log: Logger, level: LogLevel, event: string, intervalMs = 1000) {
    this.#log = log;
    this.#level = level;
    this.#event = event;
    this.#intervalMs = intervalMs;
  }

  /** Reports one hit; `fields` describe it (the last suppressed hit's fields go with the count). */
  hit(fields: Readonly<Record<string, LogValue>> = {}): void {
    if (this.#timer !== undefined) {
      this.#suppressed++;
      this.#lastFields = fields;
      return;
    }
    this.#log.log(this.#level, this.#event, fields);
    this.#openWindow();
  }

  #openWindow(): void {
    // Unref'd: a pending count must never keep a stopping daemon alive.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#suppressed === 0) return;
      this.#log.log(this.#level, this.#event, { ...this.#lastFields, suppressed: this.#suppressed });
      this.#suppressed = 0;
      this.#openWindow();
    }, this.#intervalMs).unref();
  }
}
