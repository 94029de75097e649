/**
 * A TCP backend whose connects hang until the test releases it: a listener in another process, with a backlog of
 * one, whose event loop is blocked on a read of its stdin. Once its accept queue is full the kernel drops further
 * SYNs, so a connect stays pending (the client's SYN is retransmitted, after 1 s, then 3 s, …) until
 * {@link HeldBackend.release} unblocks the process; its connections then answer, after the client's FIN, with
 * `eof after N bytes`.
 */
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import type { Test } from 'tap';
import { waitUntil } from './daemon.js';

export interface HeldBackend {
  readonly port: number;
  /** Lets the backend accept: held connects complete at their next SYN retransmission. */
  release(): void;
}

const PROGRAM = `
const server = require('net').createServer((socket) => {
  let bytes = 0;
  socket.on('error', () => undefined);
  socket.on('data', (chunk) => (bytes += chunk.length));
  socket.on('end', () => socket.end('eof after ' + bytes + ' bytes'));
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  console.log(server.address().port);
  require('fs').readSync(0, Buffer.alloc(1));
});`;

/** True when the listener on `port` has more connections queued than its backlog: new SYNs are dropped. */
function acceptQueueFull(port: number): true | undefined {
  const line = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim();
  const [, queued, backlog] = line.split(/\s+/).map(Number);
  return queued !== undefined && backlog !== undefined && queued > backlog ? true : undefined;
}

/** Starts a {@link HeldBackend}; everything is stopped on teardown. */
export async function heldBackend(t: Test): Promise<HeldBackend> {
  const child = spawn(process.execPath, ['-e', PROGRAM], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const port = Number(await new Promise<string>((resolve) => child.stdout.once('data', (data: Buffer) => resolve(data.toString()))));
  // Connections the backend will accept once released; until then they fill its queue.
  const fillers = [0, 1, 2].map(() => net.connect(port, '127.0.0.1').on('error', () => undefined));
  t.teardown(() => fillers.forEach((filler) => filler.destroy()));
  await waitUntil('the held backend to drop SYNs', () => acceptQueueFull(port));
  return { port, release: () => child.stdin.write('x') };
}
