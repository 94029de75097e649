/**
 * Splits a byte stream into lines with a hard cap on line length, so a client that never sends a newline cannot
 * make the daemon buffer without bound. Pure; the socket server feeds it.
 */

/** What one chunk produced. */
export interface SplitResult {
  /** Complete lines, without `\n` or a trailing `\r`. */
  readonly lines: string[];
  /** True when a line exceeded the cap: the caller should answer an error and close. */
  readonly overflow: boolean;
}

/** Incremental line splitter with a byte cap per line. */
export class LineSplitter {
  #pending: Buffer = Buffer.alloc(0);
  readonly #maxLine: number;

  constructor(maxLine: number) {
    this.#maxLine = maxLine;
  }

  /** Feeds one chunk. */
  push(chunk: Buffer): SplitResult {
    const lines: string[] = [];
    let data = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    let newline: number;
    while ((newline = data.indexOf(0x0a)) !== -1) {
      if (newline > this.#maxLine) return { lines, overflow: true };
      const end = newline > 0 && data[newline - 1] === 0x0d ? newline - 1 : newline;
      lines.push(data.toString('utf8', 0, end));
      data = data.subarray(newline + 1);
    }
    if (data.length > this.#maxLine) return { lines, overflow: true };
    this.#pending = Buffer.from(data);
    return { lines, overflow: false };
  }

  /** Takes the unterminated tail as a final line, as `printf 'list' | nc -N -U …` sends it. */
  flush(): string | undefined {
    if (this.#pending.length === 0) return undefined;
    const text = this.#pending.toString('utf8').replace(/\r$/, '');
    this.#pending = Buffer.alloc(0);
    return text;
  }
}
