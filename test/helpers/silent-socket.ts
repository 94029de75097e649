import net from 'node:net';
import path from 'node:path';
import type { Test } from 'tap';

/** A control socket stand-in from {@link silentSocket}. */
export interface SilentSocket {
  readonly path: string;
  /** Connections accepted so far. */
  connections(): number;
}

/**
 * A Unix socket in `dir` that counts connections and never answers: proves a client did (not) talk to the control
 * socket, and tests its timeouts. Closed, with any connection still open, on `t`'s teardown.
 */
export async function silentSocket(t: Test, dir: string): Promise<SilentSocket> {
  const socketPath = path.join(dir, `silent-${Math.random().toString(36).slice(2)}.sock`);
  const sockets = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { path: socketPath, connections: () => count };
}
