/**
 * Reads this host's listening sockets through systeminformation, and says how much it could see: the library runs
 * `netstat`, else `ss`, and returns an empty list without a word when neither exists; and only root sees other
 * users' pids. The judging is in `port-owner.ts`.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { globalIPv6Addresses, listeningSockets, type ListeningSocket, type RawConnection, type SocketVisibility } from './port-owner.js';

/** The listening sockets of this host and what limited the view. */
export interface SocketTable {
  readonly sockets: readonly ListeningSocket[];
  readonly visibility: SocketVisibility;
  readonly globalIPv6: readonly string[];
}

function onPath(name: string, searchPath: string): boolean {
  return searchPath.split(path.delimiter).some((dir) => dir !== '' && existsSync(path.join(dir, name)));
}

/** Lists listening TCP sockets, giving up after `timeoutMs` (the tools are external processes). */
export async function readSocketTable(timeoutMs: number, searchPath = process.env.PATH ?? ''): Promise<SocketTable> {
  const root = process.getuid?.() === 0;
  const globalIPv6 = globalIPv6Addresses(os.networkInterfaces());
  // systeminformation tries netstat first and falls back to ss, through the shell's PATH.
  const tool = onPath('netstat', searchPath) ? 'netstat' : onPath('ss', searchPath) ? 'ss' : 'none';
  if (tool === 'none') return { sockets: [], visibility: { tool, root }, globalIPv6 };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  // Loaded here, not at start-up: every CLI command (and the daemon) would otherwise carry it.
  const { default: si } = await import('systeminformation');
  const rows = await Promise.race([si.networkConnections() as Promise<RawConnection[]>, timedOut]);
  clearTimeout(timer);
  if (rows === undefined) return { sockets: [], visibility: { tool: 'timeout', root }, globalIPv6 };
  return { sockets: listeningSockets(rows), visibility: { tool, root }, globalIPv6 };
}
