/**
 * Serves the challenge certificates dehydrated writes to its ALPNCERTDIR (`--watch-dir`), so no hook is needed.
 *
 * dehydrated writes `NAME.key.pem` then `NAME.crt.pem` for every pending authorization before it asks the CA to
 * validate any, and deletes each pair as soon as its validation is over. So a pair is checked and put into the
 * sink deploys use too (see deploy-first.ts) as soon as both files parse — fs.watch on the directory, a scan at
 * start and on {@link WatchDir.rescan} — and taken out again once either file is deleted. Only the daemon's primary
 * process watches: its workers get the pairs as they get deploys.
 */
import { constants, watch, type FSWatcher } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { digestToHex } from '../challenge/authorization.js';
import { bytesEqual } from '../bytes.js';
import { formatIdentifier } from '../challenge/identifier.js';
import { MAX_WATCH_PEM_BYTES, WATCH_DIR_MAX_RETRY_MS, WATCH_DIR_RETRY_MS, WATCH_DIR_SETTLE_MS } from '../constants.js';
import { AlpnResponderError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Challenge } from '../challenge/challenge.js';
import type { CertificateSink } from '../net/context-table.js';
import { loadChallengePair } from './challenge-pair.js';

/** Options of {@link WatchDir.open}. */
export interface WatchDirOptions {
  /** The directory dehydrated writes to (its ALPNCERTDIR); it must exist. */
  readonly dir: string;
  readonly log: Logger;
  /** Most pairs served at once; more are skipped (`reason=too-many`). */
  readonly maxEntries: number;
  /** Where each valid pair is served (put) and withdrawn (delete). */
  readonly sink: CertificateSink;
  /** How long an unparseable pair may keep changing before it is skipped. */
  readonly settleMs?: number;
}

/** `NAME.crt.pem` / `NAME.key.pem`: dehydrated's names, `NAME` the identifier (reverse-DNS name for IPs). */
const PAIR_FILE = /^(.+)\.(crt|key)\.pem$/;

/** A pair served: its file name and challenge. */
export interface WatchedPair {
  readonly name: string;
  readonly challenge: Challenge;
}

/** A name whose files changed and are being (re)loaded. */
interface Pending {
  /** performance.now() of the latest change, for the pick-up time logged. */
  changedAt: number;
  /** Give up on unparseable files after this (performance.now()). */
  deadline: number;
  running: Promise<void> | undefined;
  /** Files changed again while loading: load once more. */
  dirty: boolean;
  retryMs: number;
  timer: NodeJS.Timeout | undefined;
}

type ReadOutcome = { readonly kind: 'missing' } | { readonly kind: 'text'; readonly text: string } | { readonly kind: 'unusable'; readonly detail: string };

/**
 * Reads a small file without following a symlink or blocking on a FIFO, and never more than the cap: the
 * directory is writable by another user (dehydrated's), whose files must not make the daemon hang or read
 * something else.
 */
async function readBounded(file: string): Promise<ReadOutcome> {
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'unusable', detail: code === 'ELOOP' ? 'a symbolic link' : String(error) };
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) return { kind: 'unusable', detail: 'not a regular file' };
    // One byte more than allowed tells "too large" apart from "exactly the cap", even if the file grows meanwhile.
    const buffer = Buffer.alloc(MAX_WATCH_PEM_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > MAX_WATCH_PEM_BYTES) return { kind: 'unusable', detail: `larger than ${MAX_WATCH_PEM_BYTES} bytes` };
    return { kind: 'text', text: buffer.toString('latin1', 0, bytesRead) };
  } finally {
    await handle.close();
  }
}

/** A pair stops being served at its certificate's notAfter, the expiry `list` shows. */
function live(pair: WatchedPair): boolean {
  return pair.challenge.expiresAt.getTime() > Date.now();
}

/** The challenges found in a watched directory, by SNI, and the watcher that keeps them current. */
export class WatchDir {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #maxEntries: number;
  readonly #settleMs: number;
  readonly #sink: CertificateSink;
  /** Served pairs by SNI. */
  readonly #entries = new Map<string, WatchedPair>();
  /** SNI of each served pair by file name, to drop it when its files go. */
  readonly #sniByName = new Map<string, string>();
  readonly #pending = new Map<string, Pending>();
  /** Why each name present but not served was skipped, so the same verdict is logged once, not per file event. */
  readonly #skipped = new Map<string, string>();
  #watcher: FSWatcher | undefined;
  #closed = false;

  private constructor(options: WatchDirOptions) {
    this.#dir = options.dir;
    this.#log = options.log;
    this.#maxEntries = options.maxEntries;
    this.#settleMs = options.settleMs ?? WATCH_DIR_SETTLE_MS;
    this.#sink = options.sink;
  }

  /**
   * Starts watching `dir` and loads the pairs already there.
   *
   * @throws AlpnResponderError ERR_WATCH_DIR when `dir` is not an existing, readable directory.
   */
  static async open(options: WatchDirOptions): Promise<WatchDir> {
    const watchDir = new WatchDir(options);
    try {
      const info = await stat(options.dir);
      if (!info.isDirectory()) throw new Error('not a directory');
      // Watching first, then scanning: a pair written in between is seen by one or the other.
      watchDir.#watch();
      await watchDir.#scan();
    } catch (error) {
      watchDir.close();
      throw new AlpnResponderError('ERR_WATCH_DIR', `cannot watch ${options.dir}: ${(error as Error).message}`, { cause: error });
    }
    options.log.log('info', 'watching', { dir: options.dir, pairs: watchDir.#entries.size });
    return watchDir;
  }

  /** The pair served for an SNI value, unless its certificate has expired. */
  lookup(sni: string): WatchedPair | undefined {
    const pair = this.#entries.get(sni);
    return pair !== undefined && live(pair) ? pair : undefined;
  }

  /** Every pair served, for `list`. */
  list(): WatchedPair[] {
    return [...this.#entries.values()].filter(live);
  }

  /**
   * Watches the directory afresh (it may have been replaced) and reloads it: pairs whose files are gone are
   * dropped, the others (re)loaded. Resolves once every complete pair has been looked at.
   */
  async rescan(): Promise<void> {
    if (this.#closed) return;
    try {
      this.#watch();
      await this.#scan();
    } catch (error) {
      this.#log.log('error', 'watch-error', { dir: this.#dir, error: String(error) });
      // Without a readable directory there are no files to serve.
      for (const name of [...this.#sniByName.keys()]) this.#drop(name, 'deleted');
    }
  }

  /** Stops watching and forgets every pair (the sink keeps serving them: the daemon is stopping); idempotent. */
  close(): void {
    this.#closed = true;
    this.#watcher?.close();
    this.#watcher = undefined;
    for (const pending of this.#pending.values()) clearTimeout(pending.timer);
    this.#pending.clear();
    this.#skipped.clear();
    this.#entries.clear();
    this.#sniByName.clear();
  }

  #watch(): void {
    this.#watcher?.close();
    const watcher = watch(this.#dir, { persistent: false }, (_event, filename) => {
      if (filename === null) {
        // The kernel dropped the names (queue overflow): look at everything.
        this.#scan().catch((error: unknown) => this.#log.log('error', 'watch-error', { dir: this.#dir, error: String(error) }));
        return;
      }
      const match = PAIR_FILE.exec(filename);
      if (match?.[1] !== undefined) void this.#changed(match[1]);
    });
    watcher.on('error', (error) => {
      // Typically the directory was removed; SIGHUP (rescan) watches it again once it is back.
      this.#log.log('error', 'watch-error', { dir: this.#dir, error: String(error) });
      watcher.close();
      if (this.#watcher === watcher) this.#watcher = undefined;
    });
    this.#watcher = watcher;
  }

  async #scan(): Promise<void> {
    const names = new Set<string>();
    for (const file of await readdir(this.#dir)) {
      const name = PAIR_FILE.exec(file)?.[1];
      if (name !== undefined) names.add(name);
    }
    // Served pairs missing from the listing are looked at too: their attempt finds the files gone and drops them
    // (dropping straight from the listing could drop a pair created and loaded while it was being read).
    for (const name of this.#sniByName.keys()) names.add(name);
    await Promise.all([...names].map((name) => this.#changed(name)));
  }

  /** The files of `name` changed: (re)load them, once more if they change again meanwhile. */
  #changed(name: string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const now = performance.now();
    let pending = this.#pending.get(name);
    if (pending === undefined) {
      pending = { changedAt: now, deadline: 0, running: undefined, dirty: false, retryMs: WATCH_DIR_RETRY_MS, timer: undefined };
      this.#pending.set(name, pending);
    }
    // Every change buys the writer more time and resets the back-off.
    pending.changedAt = now;
    pending.deadline = now + this.#settleMs;
    pending.retryMs = WATCH_DIR_RETRY_MS;
    clearTimeout(pending.timer);
    pending.timer = undefined;
    if (pending.running !== undefined) {
      pending.dirty = true;
      return pending.running;
    }
    return this.#run(name, pending);
  }

  /** Loads `name` until its files hold still, then retries later or is done with it; never rejects. */
  #run(name: string, pending: Pending): Promise<void> {
    const running = (async () => {
      let outcome: 'done' | 'retry';
      do {
        pending.dirty = false;
        outcome = await this.#attempt(name, pending);
      } while (pending.dirty && !this.#closed);
      if (this.#closed) return;
      if (outcome === 'retry') {
        this.#log.log('debug', 'watch-retry', { name, in_ms: pending.retryMs });
        pending.timer = setTimeout(() => {
          pending.timer = undefined;
          if (this.#pending.get(name) === pending && pending.running === undefined) void this.#run(name, pending);
        }, pending.retryMs);
        pending.retryMs = Math.min(pending.retryMs * 2, WATCH_DIR_MAX_RETRY_MS);
        return;
      }
      if (this.#pending.get(name) === pending) this.#pending.delete(name);
    })()
      .catch((error: unknown) => {
        if (this.#pending.get(name) === pending) this.#pending.delete(name);
        this.#log.log('error', 'watch-error', { dir: this.#dir, name, error: String(error) });
      })
      .finally(() => (pending.running = undefined));
    pending.running = running;
    return running;
  }

  /** One look at the files of `name`: served, dropped or skipped (`done`), or not parseable yet (`retry`). */
  async #attempt(name: string, pending: Pending): Promise<'done' | 'retry'> {
    const [cert, key] = await Promise.all([
      readBounded(path.join(this.#dir, `${name}.crt.pem`)),
      readBounded(path.join(this.#dir, `${name}.key.pem`)),
    ]);
    if (pending.dirty || this.#closed) return 'done';
    if (cert.kind === 'missing' || key.kind === 'missing') {
      // Deleted (dehydrated removes the certificate first), or the other half is not written yet: its own
      // event brings the name back.
      this.#skipped.delete(name);
      this.#drop(name, 'deleted');
      return 'done';
    }
    if (cert.kind === 'unusable') return this.#skip(name, 'unreadable', `the certificate file is ${cert.detail}`);
    if (key.kind === 'unusable') return this.#skip(name, 'unreadable', `the key file is ${key.detail}`);
    const loaded = await loadChallengePair(name, cert.text, key.text);
    if (pending.dirty || this.#closed) return 'done';
    if (!loaded.ok) {
      if (loaded.transient && performance.now() + pending.retryMs < pending.deadline) {
        this.#log.log('debug', 'watch-incomplete', { name, reason: loaded.reason });
        return 'retry';
      }
      return this.#skip(name, loaded.reason, loaded.detail);
    }
    const { challenge } = loaded;
    const sni = challenge.identifier.sni;
    const previous = this.#entries.get(sni);
    if (previous === undefined && this.#entries.size >= this.#maxEntries) {
      return this.#skip(name, 'too-many', `${this.#entries.size} pairs are served, the most allowed (--max-challenges)`);
    }
    const unchanged =
      previous?.name === name &&
      bytesEqual(previous.challenge.digest, challenge.digest) &&
      previous.challenge.expiresAt.getTime() === challenge.expiresAt.getTime();
    // An unchanged pair (a rescan, a chmod) is not put again: it keeps its context and its count of handshakes.
    this.#skipped.delete(name);
    if (unchanged) return 'done';
    const oldSni = this.#sniByName.get(name);
    if (oldSni !== undefined && oldSni !== sni) this.#drop(name, 'replaced');
    if (previous !== undefined && previous.name !== name) this.#sniByName.delete(previous.name);
    this.#entries.set(sni, { name, challenge });
    this.#sniByName.set(name, sni);
    try {
      await this.#sink.put(challenge, { certPem: cert.text, keyPem: key.text });
    } catch (error) {
      // Kept for whoever serves later (a worker being replaced), as a deploy is; the operator is told.
      this.#log.log('error', 'watch-error', { dir: this.#dir, name, error: String(error) });
    }
    this.#log.log('info', 'watch-load', {
      name,
      identifier: formatIdentifier(challenge.identifier),
      sni,
      sha256: digestToHex(challenge.digest),
      expires: challenge.expiresAt.toISOString(),
      ms: (performance.now() - pending.changedAt).toFixed(1),
    });
    return 'done';
  }

  #skip(name: string, reason: string, detail: string): 'done' {
    const verdict = `${reason} ${detail}`;
    if (this.#skipped.get(name) !== verdict) this.#log.log('warn', 'watch-skip', { name, reason, detail });
    this.#skipped.set(name, verdict);
    // The files no longer hold what was served: stop serving it.
    this.#drop(name, 'invalid');
    return 'done';
  }

  #drop(name: string, reason: 'deleted' | 'invalid' | 'replaced'): void {
    const sni = this.#sniByName.get(name);
    if (sni === undefined) return;
    this.#sniByName.delete(name);
    const entry = this.#entries.get(sni);
    if (entry?.name !== name) return;
    this.#entries.delete(sni);
    this.#sink.delete(sni);
    this.#log.log('info', 'watch-drop', { name, sni, reason });
  }
}
