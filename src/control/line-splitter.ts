/**
 * Splits a byte stream into lines with a hard cap on line length, so a client that never sends a newline cannot
 * make the daemon buffer without bound. Pure; the socket server and client feed it.
 */

/** What one chunk produced. */
export interface SplitResult {
  /** Complete lines, without `\n` or a trailing `\r`. */
  readonly lines: string[];
  /** True when a line exceeded the cap: the caller should answer an error and close. */
  readonly overflow: boolean;
}

/** Returned by {@link LineSplitter.next} for a line longer than the cap. */
export const OVERLONG: unique symbol = Symbol('overlong');

/**
 * Incremental line splitter with a byte cap per line. Lines can be taken all at once ({@link LineSplitter.push})
 * or one at a time ({@link LineSplitter.append}, {@link LineSplitter.next}), so a server takes a line only when it
 * is ready to run it and can count, and drop, the lines it holds.
 */
export class LineSplitter {
  #pending: Buffer = Buffer.alloc(0);
  /** Newlines in #pending: complete lines not taken yet. */
  #complete = 0;
  readonly #maxLine: number;

  constructor(maxLine: number) {
    this.#maxLine = maxLine;
  }

  /** Complete lines held and not taken yet. */
  get lines(): number {
    return this.#complete;
  }

  /** True when bytes of an unterminated line are held. */
  get hasTail(): boolean {
    return this.#pending.length > 0 && this.#pending[this.#pending.length - 1] !== 0x0a;
  }

  /**
   * Adds a chunk without taking lines. Returns false when the unterminated tail is already longer than the cap:
   * the caller should stop reading, answer the complete lines held, then an error, and close.
   */
  append(chunk: Buffer): boolean {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) this.#complete++;
    return this.#pending.length - (this.#pending.lastIndexOf(0x0a) + 1) <= this.#maxLine;
  }

  /** Takes the next complete line; undefined when none is complete; {@link OVERLONG} when it exceeds the cap. */
  next(): string | undefined | typeof OVERLONG {
    const newline = this.#pending.indexOf(0x0a);
    if (newline === -1) return this.#pending.length > this.#maxLine ? OVERLONG : undefined;
    if (newline > this.#maxLine) return OVERLONG;
    const end = newline > 0 && this.#pending[newline - 1] === 0x0d ? newline - 1 : newline;
    const line = this.#pending.toString('utf8', 0, end);
    this.#pending = this.#pending.subarray(newline + 1);
    this.#complete--;
    return line;
  }

  /** Feeds one chunk and takes every complete line. */
  push(chunk: Buffer): SplitResult {
    const lines: string[] = [];
    if (!this.append(chunk)) {
      // The lines before the overlong tail are still returned, as a server answers them before closing.
      for (let line = this.next(); typeof line === 'string'; line = this.next()) lines.push(line);
      return { lines, overflow: true };
    }
    for (;;) {
      const line = this.next();
      if (line === undefined) return { lines, overflow: false };
      if (line === OVERLONG) return { lines, overflow: true };
      lines.push(line);
    }
  }

  /** Takes the unterminated tail as a final line, as `printf 'list' | nc -N -U …` sends it. */
  flush(): string | undefined {
    if (this.#pending.length === 0) return undefined;
    const text = this.#pending.toString('utf8').replace(/\r$/, '');
    this.#pending = Buffer.alloc(0);
    this.#complete = 0;
    return text;
  }
}
