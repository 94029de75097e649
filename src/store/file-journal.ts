/**
 * The state file on disk: bounded reads, and writes that are atomic and durable — a reader (or a restart after a
 * crash or power loss) sees either the previous file or the new one, never a mix, and a write that resolved survives.
 */
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AlpnResponderError } from '../errors.js';
import { MAX_STATE_BYTES } from './state-format.js';

/** One state file. Callers serialise writes: at most one {@link FileJournal.write} runs at a time. */
export class FileJournal {
  /** The state file's path. */
  readonly path: string;
  readonly #tempPath: string;

  constructor(filePath: string) {
    this.path = filePath;
    // Same directory, so the rename cannot cross file systems; the pid keeps two daemons from sharing a temp file.
    this.#tempPath = `${filePath}.tmp-${process.pid}`;
  }

  /**
   * The file's bytes, or undefined when there is no file. At most {@link MAX_STATE_BYTES} are read.
   *
   * @throws AlpnResponderError ERR_STATE_CORRUPT when the path is not a regular file or is too large; the file
   *   system's error when it cannot be read.
   */
  async read(): Promise<Uint8Array | undefined> {
    let handle: fs.FileHandle;
    try {
      // O_NONBLOCK: a FIFO planted at the path must not hang start-up in open().
      handle = await fs.open(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new AlpnResponderError('ERR_STATE_CORRUPT', 'it is not a regular file');
      if (stat.size > MAX_STATE_BYTES) {
        throw new AlpnResponderError('ERR_STATE_CORRUPT', `it is larger than ${MAX_STATE_BYTES} bytes`);
      }
      // One byte more than allowed, so a file that grew after stat() is still caught.
      const buffer = Buffer.alloc(stat.size + 1);
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length === buffer.length) {
          throw new AlpnResponderError('ERR_STATE_CORRUPT', 'it changed size while being read');
        }
      }
      return buffer.subarray(0, length);
    } finally {
      await handle.close();
    }
  }

  /**
   * Replaces the file with `text`: write a temp file in the same directory, fsync it, rename it over the file,
   * fsync the directory (which makes the rename itself durable).
   *
   * @throws AlpnResponderError ERR_STATE_WRITE_FAILED, with the file system's reason; the old file is untouched.
   */
  async write(text: string): Promise<void> {
    try {
      const handle = await fs.open(this.#tempPath, 'w', 0o600);
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(this.#tempPath, this.path);
      await syncDirectory(path.dirname(this.path));
    } catch (error) {
      await fs.rm(this.#tempPath, { force: true }).catch(() => undefined);
      throw new AlpnResponderError(
        'ERR_STATE_WRITE_FAILED',
        `could not write the state file ${this.path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /** Renames an unusable file to `<path>.corrupt-<time>` so it can be inspected; resolves with the new path. */
  async moveAside(now: Date): Promise<string> {
    const target = `${this.path}.corrupt-${now.toISOString().replaceAll(':', '')}`;
    await fs.rename(this.path, target);
    return target;
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await fs.open(directory, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
