/** A raw TCP backend that echoes, and passthrough connections (not ACME validations) through a daemon to it. */
import type { Test } from 'tap';
import net from 'node:net';
import { alpnExtension, helloRecords, serverNameExtension } from '../fixtures/client-hello/encoder.js';
import { waitUntil } from './daemon.js';

/** A raw TCP backend on 127.0.0.1 that echoes, counting its connections; closed (with them) on teardown. */
export async function echoBackend(t: Test): Promise<{ port: number; accepted: () => number }> {
  let accepted = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, accepted: () => accepted };
}

/** A ClientHello without acme-tls/1 (SNI www.example.test, ALPN h2): a daemon passes it through. */
export const PASS_HELLO = Buffer.from(helloRecords({ extensions: [serverNameExtension('www.example.test'), alpnExtension('h2')] }));

/** Opens a passthrough connection to 127.0.0.1:`port`, sends {@link PASS_HELLO} and waits for its echo (at most 5 s). */
export async function openPassthrough(port: number): Promise<{ socket: net.Socket; received: () => Buffer }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let data = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => (data = Buffer.concat([data, chunk])));
  socket.write(PASS_HELLO);
  try {
    await waitUntil('the hello echoed through the daemon', () => (data.length >= PASS_HELLO.length ? true : undefined), undefined, 5);
  } catch (error) {
    socket.destroy();
    throw error;
  }
  return { socket, received: () => data };
}
