import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { passThrough, type PassthroughOutcome } from '../../src/net/passthrough.js';
import { heldBackend } from '../helpers/held-backend.js';

const ignore = (): void => undefined;

async function listen(t: Test, server: net.Server): Promise<number> {
  t.teardown(() => server.close());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** A front that hands each accepted socket, with `buffered` already "read", to passThrough. */
async function front(t: Test, backendPort: number, buffered: Buffer, extra: { preamble?: Uint8Array; idleTimeoutMs?: number; connectTimeoutMs?: number } = {}) {
  const outcomes: Promise<PassthroughOutcome>[] = [];
  const port = await listen(
    t,
    net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', ignore);
      socket.pause();
      outcomes.push(
        passThrough(socket, buffered, {
          host: '127.0.0.1',
          port: backendPort,
          preamble: extra.preamble,
          connectTimeoutMs: extra.connectTimeoutMs ?? 1000,
          idleTimeoutMs: extra.idleTimeoutMs ?? 5000,
        }),
      );
    }),
  );
  return { port, outcomes };
}

t.test('replays the preamble and buffered bytes first, then pipes both ways; each side half-closes on its own', async (t) => {
  const upload = randomBytes(3 * 1024 * 1024);
  const received: Buffer[] = [];
  const backendPort = await listen(
    t,
    net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('data', (d: Buffer) => received.push(d));
      // Answer only after the client's FIN: the response must still reach it (half-close).
      socket.on('end', () => socket.end(createHash('sha256').update(Buffer.concat(received)).digest('hex')));
    }),
  );
  const { port, outcomes } = await front(t, backendPort, Buffer.from('HELLO'), { preamble: Buffer.from('PROXY x\r\n') });
  const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  client.end(upload);
  let answer = '';
  client.on('data', (d) => (answer += d));
  await new Promise((resolve) => client.on('close', resolve));
  const expected = createHash('sha256').update(Buffer.concat([Buffer.from('PROXY x\r\nHELLO'), upload])).digest('hex');
  t.equal(answer, expected, 'the backend saw preamble + buffered + every uploaded byte, and its answer arrived after our FIN');
  const outcome = await outcomes[0]!;
  t.same(outcome, { ok: true, reason: undefined, bytesUp: 14 + upload.length, bytesDown: 64 });
});

t.test('a large download with a slow reader is carried with backpressure', async (t) => {
  const body = randomBytes(16 * 1024 * 1024);
  const backendPort = await listen(t, net.createServer((socket) => socket.end(body)));
  const { port } = await front(t, backendPort, Buffer.alloc(0));
  const client = net.connect(port, '127.0.0.1');
  const hash = createHash('sha256');
  let size = 0;
  client.on('data', (d: Buffer) => {
    hash.update(d);
    size += d.length;
    client.pause();
    setImmediate(() => client.resume());
  });
  await new Promise((resolve) => client.on('close', resolve));
  t.equal(size, body.length);
  t.equal(hash.digest('hex'), createHash('sha256').update(body).digest('hex'));
});

t.test('a backend that resets mid-stream closes the client', async (t) => {
  const backendPort = await listen(
    t,
    net.createServer((socket) => {
      socket.write('partial');
      socket.on('data', () => socket.resetAndDestroy());
    }),
  );
  const { port, outcomes } = await front(t, backendPort, Buffer.from('x'));
  const client = net.connect(port, '127.0.0.1');
  client.on('error', ignore);
  client.resume();
  await new Promise((resolve) => client.on('close', resolve));
  const outcome = await outcomes[0]!;
  t.equal(outcome.ok, false);
  t.equal(outcome.reason, 'backend-ECONNRESET');
});

t.test('an unreachable backend closes the client at once', async (t) => {
  const closed = net.createServer();
  const deadPort = await listen(t, closed);
  await new Promise((resolve) => closed.close(resolve));
  const { port, outcomes } = await front(t, deadPort, Buffer.from('x'));
  const client = net.connect(port, '127.0.0.1');
  client.on('error', ignore);
  client.resume();
  await new Promise((resolve) => client.on('close', resolve));
  t.match(await outcomes[0]!, { ok: false, reason: 'backend-unreachable:ECONNREFUSED', bytesDown: 0 });
});

t.test('silence in both directions hits the idle timeout', async (t) => {
  const backendPort = await listen(t, net.createServer(ignore));
  const { port, outcomes } = await front(t, backendPort, Buffer.alloc(0), { idleTimeoutMs: 100 });
  const client = net.connect(port, '127.0.0.1');
  client.on('error', ignore);
  client.resume();
  await new Promise((resolve) => client.on('close', resolve));
  t.match(await outcomes[0]!, { ok: false, reason: 'idle-timeout' });
});

t.test('a backend that never accepts hits the connect timeout', async (t) => {
  const held = await heldBackend(t);
  const { port, outcomes } = await front(t, held.port, Buffer.from('x'), { connectTimeoutMs: 200 });
  const client = net.connect(port, '127.0.0.1');
  client.on('error', ignore);
  client.resume();
  const started = Date.now();
  await new Promise((resolve) => client.on('close', resolve));
  t.match(await outcomes[0]!, { ok: false, reason: 'backend-connect-timeout', bytesUp: 0, bytesDown: 0 });
  t.ok(Date.now() - started < 2000, 'closed at the connect timeout');
});
