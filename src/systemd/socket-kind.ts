/**
 * Tells a passed Unix socket from a TCP one without opening it. With `--workers`, the primary must not listen on the
 * TLS descriptors itself (it would accept connections meant for the workers), so it cannot ask Node for the address.
 */
import { fstatSync, readFileSync } from 'node:fs';
import { AlpnResponderError } from '../errors.js';

/** /proc/net/unix lists every Unix socket with its inode in the seventh column. */
const PROC_NET_UNIX = '/proc/net/unix';

/**
 * True when `fd` is a Unix-domain socket, by its inode in /proc/net/unix (Linux).
 *
 * @throws AlpnResponderError ERR_SYSTEMD_SOCKET when `fd` is not an open socket.
 */
export function isUnixSocket(fd: number, table: string = readFileSync(PROC_NET_UNIX, 'latin1')): boolean {
  let info;
  try {
    info = fstatSync(fd);
  } catch (error) {
    throw new AlpnResponderError('ERR_SYSTEMD_SOCKET', `fd ${fd} was passed but is not open (${(error as NodeJS.ErrnoException).code ?? String(error)}); check the .socket unit`, { cause: error });
  }
  if (!info.isSocket()) throw new AlpnResponderError('ERR_SYSTEMD_SOCKET', `fd ${fd} was passed but is not a socket; check the .socket unit`);
  const inode = String(info.ino);
  for (const line of table.split('\n')) {
    if (line.trim().split(/\s+/)[6] === inode) return true;
  }
  return false;
}
