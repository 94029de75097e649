/**
 * Tells a passed Unix socket from a TCP one without opening it. With `--workers`, the primary must not listen on the
 * TLS descriptors itself (it would accept connections meant for the workers), so it cannot ask Node for the address.
 */
import { fstatSync, readFileSync } from 'node:fs';

/** /proc/net/unix lists every Unix socket with its inode in the seventh column. */
const PROC_NET_UNIX = '/proc/net/unix';

/** True when `fd` is a Unix-domain socket, by its inode in /proc/net/unix (Linux). */
export function isUnixSocket(fd: number, table: string = readFileSync(PROC_NET_UNIX, 'latin1')): boolean {
  const inode = String(fstatSync(fd).ino);
  for (const line of table.split('\n')) {
    if (line.trim().split(/\s+/)[6] === inode) return true;
  }
  return false;
}
