import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import {
  CONTROL_IDLE_TIMEOUT_MS,
  DEFAULT_CONTROL_COMMANDS_PER_SECOND,
  DEFAULT_MAX_CONTROL_CONNECTIONS,
  MAX_CONTROL_LINE,
} from '../constants.js';
import { AlpnResponderError } from '../errors.js';
import type { Logger } from '../log.js';
import { RateLimitedLog } from '../rate-limited-log.js';
import { TokenBucket } from '../token-bucket.js';
import { LineSplitter, OVERLONG } from './line-splitter.js';
import { formatErrorReply } from './protocol.js';
import { formatMode } from './group.js';

/** Answers one command line with the reply lines to send. Must not throw. */
export type LineHandler = (line: string) => Promise<string[]>;

/** Options of {@link ControlServer.listen}. */
export interface ControlServerOptions {
  readonly path: string;
  /** File mode of the socket; 0660 lets the owner and the group deploy. */
  readonly mode: number;
  /** Group that may deploy (numeric gid), or undefined to keep the daemon's. */
  readonly gid: number | undefined;
  /**
   * Owner of the socket file; undefined keeps the daemon's. With `--user` the account it becomes. Its directory is
   * never handed over (see docs/security.md): a directory that account can write would let it swap the socket.
   */
  readonly uid?: number | undefined;
  readonly handler: LineHandler;
  readonly log: Logger;
  readonly idleTimeoutMs?: number;
  /** Most clients connected at once; further ones are closed on accept. */
  readonly maxConnections?: number;
  /** Commands per second each connection may send (with as many in a burst); faster ones are delayed. */
  readonly commandsPerSecond?: number;
  /** Longest command line in bytes; a longer one is answered `ERR line-too-long` and the connection closed. */
  readonly maxLineBytes?: number;
  /**
   * Test seam: runs right after the socket is bound, before its owner is set; the window in which a writer of the
   * socket's directory could swap the socket for a link. Tests plant the link here to make that race certain.
   */
  readonly afterBind?: () => Promise<void>;
}

/**
 * Complete lines read but not started yet, per connection, at which the socket stops reading: replies are sent in
 * order, so without this a client writing faster than commands complete would grow the queue without bound. Counted
 * per line, not per read: one read can carry hundreds of lines, and only the lines beyond this many in that read are
 * held (at most one read's bytes). Lines not started when the client goes away are dropped, not run.
 */
const MAX_PENDING_LINES = 64;

const MAX_SOCKET_PATH = 107;

async function probe(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// A socket file left by a crash is replaced; a live daemon on the path, or a path that is not a socket, stops start-up.
async function claimPath(socketPath: string): Promise<void> {
  const stat = await fs.lstat(socketPath).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!stat) return;
  if (!stat.isSocket()) {
    throw new AlpnResponderError('ERR_CONTROL_NOT_SOCKET', `${socketPath} exists and is not a socket; remove it or pass another --control path`);
  }
  if (await probe(socketPath)) {
    throw new AlpnResponderError('ERR_CONTROL_IN_USE', `another daemon already answers on ${socketPath}; stop it or pass another --control path`);
  }
  await fs.unlink(socketPath);
}

/**
 * Checks, without following links, that the path is the socket just bound with the owner, group and mode asked for;
 * anything else means a writer of its directory replaced it between bind and here.
 */
async function verifySocket(options: ControlServerOptions): Promise<void> {
  const stat = await fs.lstat(options.path).catch(() => undefined);
  const owner = options.uid ?? process.geteuid?.();
  const problem =
    stat === undefined ? 'it is gone'
    : !stat.isSocket() ? 'it is no longer a socket (a link or file was put in its place)'
    : owner !== undefined && stat.uid !== owner ? `it is owned by uid ${stat.uid}, not ${owner}`
    : options.gid !== undefined && stat.gid !== options.gid ? `its group is gid ${stat.gid}, not ${options.gid}`
    : (stat.mode & 0o777) !== options.mode ? `its mode is ${(stat.mode & 0o777).toString(8)}, not ${options.mode.toString(8)} (a default ACL on the directory?)`
    : undefined;
  if (problem !== undefined) {
    throw new AlpnResponderError('ERR_CONTROL_SOCKET_REPLACED', `${options.path} changed right after it was bound: ${problem}; make its directory writable by root only`);
  }
}

// A directory others may write lets them replace the socket (or plant links) at any time; logged, not refused, so
// existing layouts keep starting, and the socket itself is verified after bind.
async function warnIfOthersMayReplace(dir: string, log: Logger): Promise<void> {
  const stat = await fs.stat(dir);
  const sticky = (stat.mode & 0o1000) !== 0;
  const foreignOwner = stat.uid !== 0 && stat.uid !== process.geteuid?.();
  if (foreignOwner || (!sticky && (stat.mode & 0o022) !== 0)) {
    log.log('warn', 'control-dir-unsafe', { dir, uid: stat.uid, mode: (stat.mode & 0o7777).toString(8), reason: 'others may replace the control socket; make the directory root-owned and writable by root only' });
  }
}

/** The Unix control socket: many clients, one command per line, replies in order. */
export class ControlServer {
  /** The socket file clients connect to (for a socket systemd passed: the `--control` path they are told). */
  readonly path: string;
  readonly #server: net.Server;
  /** False for a socket systemd passed: systemd created the file and removes it. */
  readonly #ownsFile: boolean;
  readonly #sockets = new Set<net.Socket>();
  readonly #throttled: RateLimitedLog;
  readonly #overlong: RateLimitedLog;
  #closing: Promise<void> | undefined;

  private constructor(socketPath: string, server: net.Server, ownsFile: boolean, options: ControlServerOptions) {
    this.path = socketPath;
    this.#server = server;
    this.#ownsFile = ownsFile;
    this.#throttled = new RateLimitedLog(options.log, 'warn', 'control-limit');
    // A client looping on overlong lines reconnects each time, so this is logged per server, not per connection.
    this.#overlong = new RateLimitedLog(options.log, 'warn', 'control-limit');
    const refused = new RateLimitedLog(options.log, 'warn', 'control-limit');
    server.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONTROL_CONNECTIONS;
    server.on('drop', () => refused.hit({ limit: 'max-control-connections', action: 'refused', max: server.maxConnections }));
    server.on('connection', (socket) => this.#serve(socket, options));
  }

  /** Binds the socket with its mode, group and owner, replacing a stale file. */
  static async listen(options: ControlServerOptions): Promise<ControlServer> {
    // sun_path holds 108 bytes including the terminating NUL; longer paths fail with misleading errors.
    if (Buffer.byteLength(options.path) > MAX_SOCKET_PATH) {
      throw new AlpnResponderError('ERR_CONTROL_PATH_TOO_LONG', `${options.path} is longer than ${MAX_SOCKET_PATH} bytes`);
    }
    const dir = path.dirname(options.path);
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    await warnIfOthersMayReplace(dir, options.log);
    await claimPath(options.path);
    const server = net.createServer({ allowHalfOpen: true });
    const control = new ControlServer(options.path, server, true, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // bind() creates the file with mode 0777 & ~umask: the umask gives it exactly --control-mode, so it is never
      // chmodded by path (which would follow a link planted in its place).
      const previous = process.umask(~options.mode & 0o777);
      try {
        server.listen(options.path, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(previous);
      }
    });
    server.on('error', (error) => options.log.log('error', 'control-error', { error: error.message }));
    try {
      await options.afterBind?.();
      // lchown: if the socket was swapped for a link since bind, the link is changed, never its target.
      if (options.uid !== undefined || options.gid !== undefined) await fs.lchown(options.path, options.uid ?? -1, options.gid ?? -1);
      await verifySocket(options);
    } catch (error) {
      await control.close();
      throw error;
    }
    options.log.log('info', 'control-listening', { path: options.path, mode: formatMode(options.mode), uid: options.uid, gid: options.gid });
    return control;
  }

  /**
   * Serves on a Unix socket systemd passed, listening already (see systemd/passed-sockets.ts). Its file, mode and
   * group are systemd's (ListenStream=, SocketMode=, SocketGroup=), so `mode`, `gid` and `uid` are not applied and
   * the file is left in place at close. Synchronous, so connections queued on it are served.
   */
  static adopt(passed: { fd: number; server: net.Server }, options: ControlServerOptions): ControlServer {
    const control = new ControlServer(options.path, passed.server, false, options);
    passed.server.on('error', (error) => options.log.log('error', 'control-error', { error: error.message }));
    options.log.log('info', 'control-listening', { fd: passed.fd });
    return control;
  }

  /** Stops accepting, drops clients and removes the socket file (unless systemd's); idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const socket of this.#sockets) socket.destroy();
      await closed;
      // After --user the socket's directory (root's) may not let the daemon remove it: the next start, as root,
      // replaces the stale socket.
      if (this.#ownsFile) await fs.unlink(this.path).catch(() => undefined);
    })();
    return this.#closing;
  }

  #serve(socket: net.Socket, options: ControlServerOptions): void {
    this.#sockets.add(socket);
    const maxLine = options.maxLineBytes ?? MAX_CONTROL_LINE;
    // Lines stay in the splitter until they are run: what it holds is exactly what is pending, and what is dropped
    // if the client goes away.
    const splitter = new LineSplitter(maxLine);
    const rate = options.commandsPerSecond ?? DEFAULT_CONTROL_COMMANDS_PER_SECOND;
    const bucket = new TokenBucket(rate);
    /** The client is still connected: a line is started only then. */
    let open = true;
    /** The client half-closed: its unterminated tail is the last line. */
    let ended = false;
    /** An overlong line was seen: the lines before it are answered, then an error, then the socket is closed. */
    let overlong = false;
    /** No further line will be taken. */
    let finished = false;
    let running = false;
    // Resolves once the reply is handed to the kernel, so a client that never reads its replies stops being read
    // (backpressure) instead of making the daemon queue them without bound.
    const send = (lines: string[]): Promise<void> | undefined => {
      if (!open || !socket.writable) return undefined;
      if (socket.write(lines.map((line) => `${line}\n`).join(''))) return undefined;
      return new Promise((resolve) => {
        socket.once('drain', resolve);
        socket.once('close', resolve);
      });
    };
    /** The next line to run, or undefined when there is none now (or ever: see `finished`). */
    const take = (): string | undefined => {
      const next = splitter.next();
      if (typeof next === 'string') return next;
      if (next === OVERLONG || overlong) {
        finished = true;
        this.#overlong.hit({ limit: 'max-control-line', action: 'closed', max: maxLine });
        void Promise.resolve(send([formatErrorReply('ERR_LINE_TOO_LONG', `a line is longer than ${maxLine} bytes; closing`)])).then(() => socket.end());
        return undefined;
      }
      if (!ended) return undefined;
      finished = true;
      return splitter.flush();
    };
    // Runs the lines held one at a time, in order; reading resumes once fewer than MAX_PENDING_LINES are pending.
    const run = async (): Promise<void> => {
      if (running) return;
      running = true;
      while (open && !finished) {
        const line = take();
        if (line === undefined) break;
        const wait = bucket.take();
        if (wait > 0) {
          this.#throttled.hit({ limit: 'control-commands-per-second', action: 'delayed', rate });
          // Unref'd: a throttled client must not hold a stopping daemon.
          await new Promise((resolve) => setTimeout(resolve, wait).unref());
          if (!open) break;
        }
        await send(await options.handler(line));
        if (!overlong && !ended && splitter.lines < MAX_PENDING_LINES) socket.resume();
      }
      running = false;
      if (open && ended && finished && !overlong) socket.end();
    };
    socket.setTimeout(options.idleTimeoutMs ?? CONTROL_IDLE_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', (error) => options.log.log('debug', 'control-client-error', { error: error.message }));
    socket.on('close', () => {
      open = false;
      this.#sockets.delete(socket);
      // A command already started finishes (its reply goes nowhere); the lines behind it are not run.
      const dropped = finished ? 0 : splitter.lines + (ended && splitter.hasTail ? 1 : 0);
      if (dropped > 0) options.log.log('warn', 'control-dropped', { lines: dropped, reason: 'the client went away before they were run' });
    });
    socket.on('data', (chunk: Buffer) => {
      if (finished || overlong) return;
      if (!splitter.append(chunk)) {
        overlong = true;
        socket.pause();
      } else if (splitter.lines >= MAX_PENDING_LINES) {
        socket.pause();
      }
      void run();
    });
    socket.on('end', () => {
      ended = true;
      void run();
    });
  }
}
