/**
 * The state file on disk: bounded reads, and writes that are atomic and durable — a reader (or a restart after a
 * crash or power loss) sees either the previous file or the new one, never a mix, and a write that resolved survives.
 *
 * Whoever can write the state directory can plant links there, so neither the file nor its temp file is ever opened
 * through a symbolic link (O_NOFOLLOW), and the temp file has an unpredictable name and is created exclusively
 * (O_CREAT|O_EXCL): the daemon writes only into a file it has just created itself.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AlpnResponderError } from '../errors.js';
import { MAX_STATE_BYTES } from './state-format.js';

/** Random hex digits after `.tmp-` in a temp file's name: 64 bits cannot be guessed or planted in advance. */
const TEMP_SUFFIX_BYTES = 8;
/** Names tried per write before giving up: a clash means someone planted files, or the random source is broken. */
const TEMP_ATTEMPTS = 4;

/** Options of {@link FileJournal}. */
export interface FileJournalOptions {
  /** The random part of a temp file's name (16 lower-case hex digits); tests replace it to plant a name. */
  readonly tempSuffix?: () => string;
}

/** The temp-file names this journal, or an older version of it (`.tmp-<pid>`), leaves behind when killed. */
function tempNamePattern(base: string): RegExp {
  return new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.tmp-(?:[0-9a-f]{${TEMP_SUFFIX_BYTES * 2}}|[1-9][0-9]{0,9})$`);
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === code;
}

/** One state file. Callers serialise writes: at most one {@link FileJournal.write} runs at a time. */
export class FileJournal {
  /** The state file's path. */
  readonly path: string;
  readonly #tempSuffix: () => string;

  constructor(filePath: string, options: FileJournalOptions = {}) {
    this.path = filePath;
    this.#tempSuffix = options.tempSuffix ?? (() => randomBytes(TEMP_SUFFIX_BYTES).toString('hex'));
  }

  /**
   * The file's bytes, or undefined when there is no file. At most {@link MAX_STATE_BYTES} are read.
   *
   * @throws AlpnResponderError ERR_STATE_SYMLINK when the path is a symbolic link (it is not followed);
   *   ERR_STATE_UNREADABLE when the file exists but cannot be opened; ERR_STATE_CORRUPT when it is not a regular
   *   file or is too large. No message quotes the file's bytes.
   */
  async read(): Promise<Uint8Array | undefined> {
    let handle: fs.FileHandle;
    try {
      // O_NONBLOCK: a FIFO planted at the path must not hang start-up in open(). O_NOFOLLOW: a link planted at the
      // path must not make the daemon read (and later report on) a file it points to.
      handle = await fs.open(this.path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      if (isErrno(error, 'ELOOP')) throw this.#symlink();
      throw new AlpnResponderError(
        'ERR_STATE_UNREADABLE',
        `cannot open the state file ${this.path} (${(error as NodeJS.ErrnoException).code ?? String(error)}): it must be readable by the user the daemon serves as`,
        { cause: error },
      );
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
   * Replaces the file with `text`: create a temp file of a random name in the same directory (exclusively, never
   * through a link), write and fsync it, rename it over the file (rename replaces a link planted there, it does not
   * follow it), fsync the directory (which makes the rename itself durable).
   *
   * @throws AlpnResponderError ERR_STATE_WRITE_FAILED, with the file system's reason; the old file is untouched.
   */
  async write(text: string): Promise<void> {
    let tempPath: string | undefined;
    try {
      let handle: fs.FileHandle | undefined;
      for (let attempt = 1; handle === undefined; attempt++) {
        const candidate = `${this.path}.tmp-${this.#tempSuffix()}`;
        try {
          handle = await fs.open(candidate, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          tempPath = candidate;
        } catch (error) {
          // EEXIST also for a link there (O_EXCL never follows one): try another name, never that one.
          if (!isErrno(error, 'EEXIST') || attempt >= TEMP_ATTEMPTS) throw error;
        }
      }
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(tempPath!, this.path);
      tempPath = undefined;
      await syncDirectory(path.dirname(this.path));
    } catch (error) {
      // Only a file this write created itself is removed.
      if (tempPath !== undefined) await fs.rm(tempPath, { force: true }).catch(() => undefined);
      throw new AlpnResponderError(
        'ERR_STATE_WRITE_FAILED',
        `could not write the state file ${this.path}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /**
   * Removes temp files an earlier daemon left when it was killed mid-write: names matching the temp-name pattern
   * exactly, regular files only (a link or anything else of that name is left alone, and nothing is followed).
   * Resolves with the names removed.
   */
  async removeStaleTemps(): Promise<string[]> {
    const directory = path.dirname(this.path);
    const pattern = tempNamePattern(path.basename(this.path));
    const removed: string[] = [];
    let entries: string[];
    try {
      entries = await fs.readdir(directory);
    } catch {
      // An unreadable directory: the first write reports the problem.
      return removed;
    }
    for (const name of entries) {
      if (!pattern.test(name)) continue;
      const file = path.join(directory, name);
      const stat = await fs.lstat(file).catch(() => undefined);
      if (!stat?.isFile()) continue;
      // unlink() removes the name, never what it might point to, even if it was swapped for a link meanwhile.
      if (await fs.unlink(file).then(() => true, () => false)) removed.push(name);
    }
    return removed;
  }

  /** Renames an unusable file to `<path>.corrupt-<time>` so it can be inspected; resolves with the new path. */
  async moveAside(now: Date): Promise<string> {
    const target = `${this.path}.corrupt-${now.toISOString().replaceAll(':', '')}`;
    await fs.rename(this.path, target);
    return target;
  }

  #symlink(): AlpnResponderError {
    return new AlpnResponderError(
      'ERR_STATE_SYMLINK',
      `the state file ${this.path} is a symbolic link, which is never followed: remove it (or point --state at the real file)`,
    );
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
