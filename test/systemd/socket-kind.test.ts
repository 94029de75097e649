import { closeSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { isUnixSocket, unixSocketInodes } from '../../src/systemd/socket-kind.js';
import { shortTempDir } from '../helpers/tmp.js';

/** The descriptor behind a listening server (libuv exposes it on Linux). */
function fdOf(server: net.Server): number {
  return (server as unknown as { _handle: { fd: number } })._handle.fd;
}

function listening(server: net.Server, where: net.ListenOptions): Promise<net.Server> {
  return new Promise((resolve) => server.listen(where, () => resolve(server)));
}

t.test('tells a Unix socket from a TCP one by its inode', async (t) => {
  const unix = await listening(net.createServer(), { path: path.join(shortTempDir(t), 's.sock') });
  const tcp = await listening(net.createServer(), { host: '127.0.0.1', port: 0 });
  t.teardown(() => {
    unix.close();
    tcp.close();
  });
  const inodes = unixSocketInodes();
  t.equal(isUnixSocket(fdOf(unix), inodes), true, 'Unix');
  t.equal(isUnixSocket(fdOf(tcp), inodes), false, 'TCP');
  t.equal(isUnixSocket(fdOf(unix), unixSocketInodes(readFileSync('/proc/net/unix', 'latin1').split('\n')[0]!)), false, 'an inode missing from the table is not Unix');
});

t.test('a descriptor that is not an open socket is the socket unit\'s fault', async (t) => {
  const file = openSync(path.join(shortTempDir(t), 'f'), 'w');
  t.teardown(() => closeSync(file));
  t.throws(() => isUnixSocket(file, new Set()), { code: 'ERR_SYSTEMD_SOCKET', message: /not a socket/ });
  t.throws(() => isUnixSocket(987654, new Set()), { code: 'ERR_SYSTEMD_SOCKET', message: /not open \(EBADF\)/ });
});
