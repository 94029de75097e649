/**
 * Asks the daemon for its `status` over the control socket and turns the answer, or the reason there is none
 * (no socket, stale socket, permission denied, silence), into a checklist line.
 */
import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readAccountFile } from '../account-file.js';
import { sendCommands, type Reply } from '../control/client.js';
import { AlpnResponderError } from '../errors.js';
import { formatListenAddress } from '../net/listen-address.js';
import type { Check } from './checklist.js';
import { formatUptime, parseStatusReply, type DaemonStatus } from './daemon-status.js';

/** The control socket's line, and the daemon's status when it answered. */
export interface ControlProbe {
  readonly check: Check;
  readonly status?: DaemonStatus;
}

async function groupName(gid: number): Promise<string> {
  const text = await readAccountFile('/etc/group');
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (name !== undefined && id === String(gid)) return name;
  }
  return String(gid);
}

function userName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '?');
  }
}

/**
 * Names what stops this user: the socket's group and mode, or the directory's when the socket cannot even be seen.
 * Never suggests joining group root (gid 0): that is what a socket made by a daemon started as root with
 * `--control-group "$(id -gn)"` has, and root's group grants far more than the socket.
 */
async function permissionRemedy(socketPath: string): Promise<string> {
  const user = userName();
  const ownGroup = 'restart the daemon with --control-group set to a group made for it (groupadd alpn-responder; usermod -aG ' +
    `alpn-responder ${user}, then log in again)`;
  for (const candidate of [socketPath, path.dirname(socketPath)]) {
    const info = await stat(candidate).catch(() => undefined);
    if (info === undefined) continue;
    const group = await groupName(info.gid);
    const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
    if (info.gid === 0) return `${candidate} belongs to group ${group} (mode ${mode}), which must not be handed out: ${ownGroup}.`;
    return (
      `${candidate} belongs to group ${group} (mode ${mode}): add ${user} to it (usermod -aG ${group} ${user}, then log in ` +
      `again), or start the daemon with --control-group set to a group of ${user}.`
    );
  }
  return `Start the daemon with --control-group set to a group of ${user}.`;
}

function failed(controlPath: string, why: string, remedy: string): ControlProbe {
  return { check: { id: 'control', status: 'fail', title: `control socket ${controlPath}: ${why}`, remedy } };
}

/** Sends `status`; never throws for a daemon that is down, denied or mute. */
export async function probeControl(controlPath: string, timeoutMs: number): Promise<ControlProbe> {
  let text: string;
  try {
    // One command in, so exactly one reply out (sendCommands rejects otherwise).
    const [reply] = (await sendCommands(controlPath, ['status'], timeoutMs)) as [Reply];
    if (!reply.final.ok) {
      const refusal = `\`status\` was refused: ERR ${reply.final.shortCode} ${reply.final.message}`;
      return failed(controlPath, refusal, 'Is this socket really alpn-responder\'s? Check --control.');
    }
    text = reply.final.text;
  } catch (error) {
    if (!(error instanceof AlpnResponderError)) throw error;
    const cause = (error.cause as NodeJS.ErrnoException | undefined)?.code;
    if (error.code === 'ERR_CONTROL_UNREACHABLE') {
      if (cause === 'EACCES' || cause === 'EPERM') {
        return failed(controlPath, `permission denied for user ${userName()}`, await permissionRemedy(controlPath));
      }
      const info = await stat(controlPath).catch(() => undefined);
      if (info === undefined) return failed(controlPath, 'no such socket: the daemon is not running, or uses another path', error.remedy);
      if (!info.isSocket()) return failed(controlPath, 'exists but is not a socket', error.remedy);
      return failed(controlPath, `nothing answers (${cause ?? 'unreachable'}): a stale socket of a daemon that has stopped`, error.remedy);
    }
    const why = error.code === 'ERR_CONTROL_TIMEOUT' ? `no answer within ${timeoutMs / 1000} s` : error.message;
    return failed(controlPath, why, error.remedy);
  }
  const status = parseStatusReply(text);
  if (status === undefined) {
    return failed(controlPath, `answered, but not like alpn-responder: OK ${text}`, 'Check that --control points at alpn-responder\'s socket.');
  }
  const listeners = status.listeners.map(formatListenAddress).join(', ') || 'nothing';
  return {
    status,
    check: {
      id: 'control',
      status: 'pass',
      title:
        `control socket ${controlPath}: alpn-responder ${status.version}, up ${formatUptime(status.uptimeSeconds)}, ` +
        `listening on ${listeners}, ${status.challenges} challenge${status.challenges === 1 ? '' : 's'} deployed`,
    },
  };
}
