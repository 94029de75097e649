import { statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { AlpnResponderError } from '../errors.js';
import { formatMode } from './group.js';
import { LineSplitter } from './line-splitter.js';
import { parseFinalReply, type FinalReply } from './protocol.js';

/** One command's answer: data lines (for `list`, `help`) and the final OK/ERR line. */
export interface Reply {
  readonly lines: string[];
  readonly final: FinalReply;
}

/** Largest reply line a client accepts: a `list` row is about 200 bytes. */
const MAX_REPLY_LINE = 64 * 1024;

/**
 * Sends command lines over the control socket and collects one reply per command, in order.
 * Fails with ERR_CONTROL_UNREACHABLE, ERR_CONTROL_TIMEOUT or ERR_CONTROL_PROTOCOL.
 */
export function sendCommands(socketPath: string, commands: readonly string[], timeoutMs = 10_000): Promise<Reply[]> {
  return new Promise((resolve, reject) => {
    const replies: Reply[] = [];
    let lines: string[] = [];
    const splitter = new LineSplitter(MAX_REPLY_LINE);
    const socket = net.connect(socketPath);
    const fail = (error: AlpnResponderError): void => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () =>
      fail(new AlpnResponderError('ERR_CONTROL_TIMEOUT', `no answer from ${socketPath} within ${timeoutMs} ms`)),
    );
    socket.on('connect', () => socket.write(commands.map((command) => `${command}\n`).join('')));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      fail(
        error.code === 'EACCES' || error.code === 'EPERM'
          ? permissionDenied(socketPath, error)
          : new AlpnResponderError(
              'ERR_CONTROL_UNREACHABLE',
              `cannot reach the daemon at ${socketPath} (${error.code ?? error.message}): is \`alpn-responder serve\` running, and may this user use the socket?`,
              { cause: error },
            ),
      ),
    );
    socket.on('data', (chunk: Buffer) => {
      const result = splitter.push(chunk);
      if (result.overflow) return fail(new AlpnResponderError('ERR_CONTROL_PROTOCOL', `a reply line from ${socketPath} is too long`));
      for (const line of result.lines) {
        const final = parseFinalReply(line);
        if (!final) {
          lines.push(line);
          continue;
        }
        replies.push({ lines, final });
        lines = [];
        if (replies.length === commands.length) {
          socket.end();
          resolve(replies);
          return;
        }
      }
    });
    socket.on('close', () => {
      if (replies.length < commands.length) {
        reject(new AlpnResponderError('ERR_CONTROL_PROTOCOL', `${socketPath} closed after ${replies.length} of ${commands.length} replies`));
      }
    });
  });
}

/**
 * The daemon may well run: this user may not use its socket. Says whose socket it is (group, mode) and who is
 * asking, as the hook does, instead of "start the daemon".
 */
function permissionDenied(socketPath: string, error: NodeJS.ErrnoException): AlpnResponderError {
  let owner = '';
  try {
    const stats = statSync(socketPath);
    owner = `; the socket belongs to uid ${stats.uid}, gid ${stats.gid}, mode ${formatMode(stats.mode)}`;
  } catch {
    // A directory on the way is what denies access: its mode is the one to look at.
  }
  const who = `${os.userInfo().username} (uid ${process.getuid?.() ?? '?'}, groups ${process.getgroups?.().join(',') ?? '?'})`;
  return new AlpnResponderError('ERR_CONTROL_UNREACHABLE', `permission denied on ${socketPath} for ${who}${owner}`, {
    cause: error,
    remedy:
      `A permission problem, not a stopped daemon: the control socket's group and mode (and its directory's) decide who may use it. ` +
      `Run as a member of the socket's group (usermod -aG GROUP ${os.userInfo().username}, then log in again), or start the daemon with --control-group set to a group of this user.`,
  });
}
