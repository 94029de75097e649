/**
 * Tells a passed Unix socket from a TCP one without opening it. With `--workers`, the primary must not listen on the
 * TLS descriptors itself (it would accept connections meant for the workers), so it cannot ask Node for the address.
 */
import { fstatSync, readFileSync } from 'node:fs';
import { AlpnResponderError } from '../errors.js';

/** /proc/net/unix lists every Unix socket with its inode in the seventh column. */
const PROC_NET_UNIX = '/proc/net/unix';

/** The inodes of every Unix socket on the host, from /proc/net/unix (Linux); read once for all passed descriptors. */
export function unixSocketInodes(table: string = readFileSync(PROC_NET_UNIX, 'latin1')): ReadonlySet<string> {
  const inodes = new Set<string>();
  for (const line of table.split('\n')) {
    const inode = line.trim().split(/\s+/)[6];
    if (inode !== undefined) inodes.add(inode);
  }
  return inodes;
}

/**
 * True when `fd` is a Unix-domain socket: its inode is among `unixInodes` (see {@link unixSocketInodes}).
 *
 * @throws AlpnResponderError ERR_SYSTEMD_SOCKET when `fd` is not an open socket.
 */
export function isUnixSocket(fd: number, unixInodes: ReadonlySet<string>): boolean {
  let info;
  try {
    info = fstatSync(fd);
  } catch (error) {
    throw new AlpnResponderError('ERR_SYSTEMD_SOCKET', `fd ${fd} was passed but is not open (${(error as NodeJS.ErrnoException).code ?? String(error)}); check the .socket unit`, { cause: error });
  }
  if (!info.isSocket()) throw new AlpnResponderError('ERR_SYSTEMD_SOCKET', `fd ${fd} was passed but is not a socket; check the .socket unit`);
  return unixInodes.has(String(info.ino));
}
