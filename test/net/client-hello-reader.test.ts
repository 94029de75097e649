import t, { type Test } from 'tap';
import net from 'node:net';
import { HelloReader, type HelloLimits, type HelloOutcome } from '../../src/net/client-hello-reader.js';
import { frame, helloMessage, helloRecords } from '../fixtures/client-hello/encoder.js';

/** Accepts one connection, reads its hello with `limits`, and lets `send` drive the client side. */
async function readFrom(t: Test, limits: HelloLimits, send: (socket: net.Socket) => Promise<void>): Promise<HelloOutcome> {
  const server = net.createServer();
  t.teardown(() => server.close());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<HelloOutcome>((resolve) => server.once('connection', (socket) => {
    socket.on('error', () => undefined);
    const reader = new HelloReader({
      outcome: (socket, outcome) => {
        socket.destroy();
        resolve(outcome);
      },
    });
    socket.on('close', () => reader.closed(socket));
    reader.read(socket, { limits, expectProxyHeader: false });
  }));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.setNoDelay(true);
  client.on('error', () => undefined);
  t.teardown(() => client.destroy());
  await new Promise((resolve) => client.once('connect', resolve));
  void send(client);
  return accepted;
}

/** Writes bytes in pieces of `size`, each flushed on its own. */
async function dribble(socket: net.Socket, bytes: Uint8Array, size: number): Promise<void> {
  for (let at = 0; at < bytes.length && !socket.destroyed; at += size) {
    await new Promise<void>((resolve) => socket.write(bytes.subarray(at, at + size), () => resolve()));
  }
}

const limits = { maxBytes: 32 * 1024, timeoutMs: 5000 };

t.test('a hello sent one byte per write is read whole, and every byte is kept for replay', async (t) => {
  const bytes = helloRecords();
  const outcome = await readFrom(t, limits, (s) => dribble(s, bytes, 1));
  t.equal(outcome.kind, 'hello');
  if (outcome.kind !== 'hello') return;
  t.equal(outcome.hello.serverName, 'example.com');
  t.same(outcome.hello.alpn, ['acme-tls/1']);
  t.same(new Uint8Array(outcome.buffered), bytes);
});

t.test('a hello fragmented into one-byte TLS records, sent three bytes at a time', async (t) => {
  const bytes = frame(helloMessage(), { sizes: [1] });
  const outcome = await readFrom(t, limits, (s) => dribble(s, bytes, 3));
  t.equal(outcome.kind, 'hello');
  t.equal(outcome.buffered.length, bytes.length);
});

t.test('non-TLS bytes are invalid at once', async (t) => {
  const outcome = await readFrom(t, limits, async (s) => void s.write('GET / HTTP/1.1\r\n\r\n'));
  t.equal(outcome.kind, 'invalid');
  t.match(outcome.kind === 'invalid' ? outcome.reason : '', /TLS/);
});

t.test('a client that stops halfway times out', async (t) => {
  const bytes = helloRecords();
  const outcome = await readFrom(t, { ...limits, timeoutMs: 100 }, async (s) => void s.write(bytes.subarray(0, 20)));
  t.same({ kind: outcome.kind, length: outcome.buffered.length }, { kind: 'timeout', length: 20 });
});

t.test('a hello that arrives whole is read even when the same read carries more than the cap', async (t) => {
  const bytes = Buffer.concat([helloRecords(), Buffer.alloc(100, 0x17)]);
  const outcome = await readFrom(t, { ...limits, maxBytes: 40 }, async (s) => void s.write(bytes));
  t.equal(outcome.kind, 'hello');
  t.equal(outcome.buffered.length, bytes.length, 'the extra bytes are kept for the backend');
});

t.test('a hello larger than the cap is cut off', async (t) => {
  const bytes = helloRecords().subarray(0, 100);
  const outcome = await readFrom(t, { ...limits, maxBytes: 40 }, (s) => dribble(s, bytes, 8));
  t.equal(outcome.kind, 'too-large', JSON.stringify({ kind: outcome.kind, n: outcome.buffered.length, total: bytes.length }));
});

t.test('a client that closes halfway', async (t) => {
  const bytes = helloRecords();
  const outcome = await readFrom(t, limits, async (s) => void s.end(bytes.subarray(0, 30)));
  t.same({ kind: outcome.kind, length: outcome.buffered.length }, { kind: 'closed', length: 30 });
});
