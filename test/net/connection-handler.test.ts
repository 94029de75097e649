import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { createChallengeCertificate } from '../../src/challenge/certificate.js';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import type { LogLevel, LogValue } from '../../src/log.js';
import { parseBackends } from '../../src/net/backends.js';
import { ConnectionHandler, type ConnectionHandlerOptions } from '../../src/net/connection-handler.js';
import { challengeContext, type ReadyChallenge } from '../../src/net/context-table.js';
import { formatProxyHeaderV1 } from '../../src/net/proxy-header.js';
import { waitUntil } from '../helpers/daemon.js';
import { heldBackend } from '../helpers/held-backend.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'client-hello');
/** A real hello offering h2 and http/1.1 (no acme-tls/1): passed through, or refused without a backend. */
const CURL_HELLO = readFileSync(path.join(FIXTURES, 'curl-http2.bin'));
/** A real hello offering acme-tls/1 for node.example.com. */
const ACME_HELLO = readFileSync(path.join(FIXTURES, 'node-acme.bin'));

const NAME = 'a.example.test';
const certificate = await createChallengeCertificate(parseIdentifier(NAME), new Uint8Array(32));
const ignore = (): void => undefined;

interface Line {
  readonly level: LogLevel;
  readonly event: string;
  readonly fields: Record<string, LogValue>;
}

/** A handler on a loopback listener; its log lines collected; everything closed on teardown. */
async function harness(t: Test, overrides: Partial<ConnectionHandlerOptions> = {}) {
  const lines: Line[] = [];
  const ready: ReadyChallenge = {
    challenge: { identifier: parseIdentifier(NAME), digest: new Uint8Array(32), expiresAt: new Date(Date.now() + 3_600_000) },
    context: challengeContext(certificate),
    served: 0,
  };
  const options: ConnectionHandlerOptions = {
    lookup: (sni) => (sni === NAME ? ready : undefined),
    backends: parseBackends([]),
    log: { log: (level, event, fields = {}) => void lines.push({ level, event, fields: { ...fields } }) },
    hello: { maxBytes: 32 * 1024, timeoutMs: 5000 },
    limits: { maxConnections: 100, maxPerSource: 100 },
    handshakeRate: { perSecond: 20, burst: 200 },
    handshakeTimeoutMs: 5000,
    acceptProxyProtocol: false,
    backendProxyProtocol: undefined,
    backendConnectTimeoutMs: 1000,
    idleTimeoutMs: 5000,
    ...overrides,
  };
  const handler = new ConnectionHandler(options);
  /** The daemon's side of every connection, to watch what it has received. */
  const accepted: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    accepted.push(socket);
    handler.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const clients: net.Socket[] = [];
  t.teardown(async () => {
    for (const client of clients) client.destroy();
    handler.destroyAll();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as net.AddressInfo).port;
  const outcomes = (): Record<string, LogValue>[] => lines.filter((line) => line.event === 'connection').map((line) => line.fields);
  return {
    handler,
    options,
    ready,
    port,
    lines,
    outcomes,
    accepted,
    /** Waits until `count` outcome lines were logged (or fails after 5 s). */
    async outcome(count = 1): Promise<Record<string, LogValue>> {
      return waitUntil(`outcome ${count}`, () => outcomes()[count - 1], 5000, 5).catch((error: Error) => {
        throw new Error(`no outcome ${count} within 5 s (${error.message}): ${JSON.stringify(lines)}`);
      });
    },
    /** A raw TCP client (it closes once the server has), connected, errors ignored, destroyed on teardown. */
    async connect(): Promise<net.Socket> {
      const client = net.connect({ port, host: '127.0.0.1' });
      clients.push(client);
      client.on('error', ignore);
      await new Promise((resolve) => client.once('connect', resolve));
      return client;
    },
  };
}

/** An `acme-tls/1` handshake like the CA's, over `socket` if given; resolves with the protocol, or the error. */
function handshake(port: number, servername = NAME, socket?: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    const client = tls.connect({ port, host: '127.0.0.1', socket, servername, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false });
    client.once('secureConnect', () => {
      resolve(`${client.alpnProtocol} ${client.getProtocol()}`);
      client.end();
    });
    client.once('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
  });
}

function closed(socket: net.Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
}

/** Lets the event loop turn `n` times: data written to a loopback socket of this process is read by then. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Writes `bytes` and resolves once the handler (in this process) has had them as a read of their own: written to the
 * kernel, then turns of the event loop in which the handler's socket reads them — a condition, not a sleep.
 */
async function delivered(socket: net.Socket, bytes: Uint8Array): Promise<void> {
  await new Promise<void>((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve())));
  await turns(3);
}

t.test('serves the challenge; the one outcome line says who, what, and how it ended', async (t) => {
  const h = await harness(t);
  t.equal(await handshake(h.port), 'acme-tls/1 TLSv1.3');
  const outcome = await h.outcome();
  t.match(outcome, { remote: /^127\.0\.0\.1:\d+$/, sni: NAME, alpn: 'acme-tls/1', tls: 'TLSv1.3', outcome: 'served', ms: /^\d+\.\d$/ });
  t.same(Object.keys(outcome), ['remote', 'sni', 'alpn', 'tls', 'outcome', 'ms'], 'fields in a stable order');
  t.same(h.handler.stats, { served: 1, passed: 0, rejected: 0 });
  t.equal(h.ready.served, 1);
  await waitUntil('no connection open', () => (h.handler.active === 0 ? true : undefined), 5000, 5).catch(() => undefined);
  t.equal(h.handler.active, 0, 'the connection is gone once the client closed');
});

t.test('refusals: unknown name (with an alert), no hello in time, FIN before the hello, non-TLS, too large', async (t) => {
  const h = await harness(t, { hello: { maxBytes: 100, timeoutMs: 150 } });
  t.equal(await handshake(h.port, 'unknown.example.test'), 'error ERR_SSL_TLSV1_UNRECOGNIZED_NAME');
  t.match(await h.outcome(1), { sni: 'unknown.example.test', outcome: 'rejected', reason: 'unknown-name' });

  const silent = await h.connect();
  await closed(silent);
  t.match(await h.outcome(2), { outcome: 'rejected', reason: 'timeout' });

  const quitter = await h.connect();
  quitter.end(ACME_HELLO.subarray(0, 10));
  await closed(quitter);
  t.match(await h.outcome(3), { outcome: 'rejected', reason: 'closed' });

  const http = await h.connect();
  http.write('GET / HTTP/1.1\r\n\r\n');
  await closed(http);
  t.match(await h.outcome(4), { outcome: 'rejected', reason: /^invalid-hello:not TLS/ });

  const large = await h.connect();
  // A record header announcing a big hello, then more than maxBytes of it, in pieces.
  await delivered(large, Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f, 0xfc]));
  large.write(Buffer.alloc(120));
  await closed(large);
  t.match(await h.outcome(5), { outcome: 'rejected', reason: 'too-large' });
  t.same(h.handler.stats, { served: 0, passed: 0, rejected: 5 });
});

t.test('connections keep the settings they were accepted with; a reload applies to new ones', async (t) => {
  const h = await harness(t, { hello: { maxBytes: 32 * 1024, timeoutMs: 100 } });
  const early = await h.connect();
  h.handler.reconfigure({ ...h.options, hello: { maxBytes: 32 * 1024, timeoutMs: 60_000 } });
  const late = await h.connect();
  await closed(early);
  t.match(await h.outcome(1), { reason: 'timeout' });
  // A second reload, and a marker accepted after it with a 150 ms limit: it times out after late would have, had late
  // kept the 100 ms it was not accepted with (limits expire in order of their deadlines).
  h.handler.reconfigure({ ...h.options, hello: { maxBytes: 32 * 1024, timeoutMs: 150 } });
  const marker = await h.connect();
  await closed(marker);
  t.match(await h.outcome(2), { reason: 'timeout' });
  await turns(3);
  t.equal(late.closed, false, 'the connection accepted after the first reload waits longer');
  t.equal(h.handler.active, 1);
  late.write(ACME_HELLO);
  // node.example.com is not deployed: refused as soon as the hello is complete.
  t.match(await h.outcome(3), { sni: 'node.example.com', reason: 'unknown-name' });
});

t.test('at --max-connections the oldest connection still without a hello makes room', async (t) => {
  const h = await harness(t, { limits: { maxConnections: 2, maxPerSource: 100 } });
  const oldest = await h.connect();
  await h.connect();
  await waitUntil('both connections taken', () => (h.handler.active === 2 ? true : undefined), 5000, 5);
  t.equal(await handshake(h.port), 'acme-tls/1 TLSv1.3', 'the CA gets in');
  await closed(oldest);
  t.match(await h.outcome(1), { outcome: 'rejected', reason: 'evicted' });
  t.ok(h.lines.some((line) => line.event === 'connection-limit' && line.fields.action === 'evicted'));
});

t.test('over --max-connections-per-source a connection is refused at once, with one line for the limit', async (t) => {
  const h = await harness(t, { limits: { maxConnections: 100, maxPerSource: 1 } });
  await h.connect();
  const refused = await h.connect();
  await closed(refused);
  t.match(h.lines.find((line) => line.event === 'connection-limit')?.fields, { limit: 'max-connections-per-source', action: 'refused', remote: '127.0.0.1' });
  t.same(h.outcomes(), [], 'no outcome line for a connection never taken');
  t.equal(h.handler.stats.rejected, 1);
});

t.test('behind a front proxy: the client is the one the PROXY header names, counted and logged as such', async (t) => {
  const h = await harness(t, { acceptProxyProtocol: true, limits: { maxConnections: 100, maxPerSource: 1 } });
  const header = (port: number): Uint8Array =>
    formatProxyHeaderV1({ family: 'tcp4', sourceAddress: '192.0.2.7', sourcePort: port, destinationAddress: '192.0.2.1', destinationPort: 443 });
  // The header and the hello in separate reads: the client is counted as soon as the header is in.
  const first = await h.connect();
  await delivered(first, header(1111));
  const second = await h.connect();
  second.write(header(2222));
  await closed(second);
  t.match(await h.outcome(1), { remote: '192.0.2.7:2222', via: /^127\.0\.0\.1:\d+$/, outcome: 'rejected', reason: 'max-connections-per-source' });
  t.equal(await handshake(h.port, NAME, first), 'acme-tls/1 TLSv1.3', 'a handshake after the header');
  t.match(await h.outcome(2), { remote: '192.0.2.7:1111', outcome: 'served' });
  const missing = await h.connect();
  missing.write(ACME_HELLO);
  await closed(missing);
  t.match(await h.outcome(3), { remote: /^127\.0\.0\.1:\d+$/, reason: /^invalid-hello:proxy-header: / });
});

t.test('over --handshake-rate a source is refused with an alert before any key exchange; other sources are not', async (t) => {
  // A token every 1,000 s: none comes back during the test, however slow the machine.
  const h = await harness(t, { handshakeRate: { perSecond: 0.001, burst: 2 } });
  t.equal(await handshake(h.port), 'acme-tls/1 TLSv1.3');
  t.equal(await handshake(h.port), 'acme-tls/1 TLSv1.3');
  t.equal(await handshake(h.port), 'error ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR', 'the burst is spent');
  t.match(h.lines.find((line) => line.event === 'connection-limit'), { level: 'warn', fields: { limit: 'handshake-rate', action: 'refused', remote: '127.0.0.1', sni: NAME } });
  t.equal(h.outcomes().length, 2, 'no outcome line for a refusal: a flood would write one per connection');
  t.equal(await handshake(h.port, 'unknown.example.test'), 'error ERR_SSL_TLSV1_UNRECOGNIZED_NAME', 'refusals cost no key exchange and take no token');
  const other = net.connect({ port: h.port, host: '127.0.0.1', localAddress: '127.0.0.2' });
  other.on('error', ignore);
  t.teardown(() => other.destroy());
  t.equal(await handshake(h.port, NAME, other), 'acme-tls/1 TLSv1.3', 'another source has its own bucket');
  await h.outcome(4);
  t.same(h.handler.stats, { served: 3, passed: 0, rejected: 2 });
});

t.test('at --max-connections a challenge handshake closes the oldest passed-through connection; passthrough gets no such room', async (t) => {
  const backend = net.createServer((socket) => socket.on('error', ignore));
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  t.teardown(() => backend.close());
  const h = await harness(t, { limits: { maxConnections: 1, maxPerSource: 100 }, backends: parseBackends([`127.0.0.1:${(backend.address() as net.AddressInfo).port}`]) });
  const web = await h.connect();
  web.write(CURL_HELLO);
  await waitUntil('the connection passed through', () => (h.handler.stats.passed === 1 ? true : undefined), 5000, 5);
  const late = await h.connect();
  late.write(CURL_HELLO);
  await closed(late);
  t.equal(h.handler.stats.passed, 1, 'a second connection for the backend is refused at the cap');
  t.equal(await handshake(h.port), 'acme-tls/1 TLSv1.3', 'the CA gets in');
  await closed(web);
  const passed = await waitUntil('the passthrough outcome', () => h.outcomes().find((line) => line.outcome === 'passed'), 5000, 5);
  t.match(passed, { reason: 'evicted' });
  t.ok(h.lines.some((line) => line.event === 'connection-limit' && line.fields.action === 'evicted'));
});

t.test('passes other TLS to the backend, PROXY header first, and logs what it carried', async (t) => {
  const received: Buffer[] = [];
  const backend = net.createServer((socket) => {
    socket.on('data', (data: Buffer) => {
      received.push(data);
      if (Buffer.concat(received).length >= CURL_HELLO.length + 30) socket.end('answer');
    });
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  t.teardown(() => backend.close());
  const backendPort = (backend.address() as net.AddressInfo).port;
  const h = await harness(t, { backends: parseBackends([`127.0.0.1:${backendPort}`]), backendProxyProtocol: 'v1' });
  const client = await h.connect();
  const clientPort = client.localPort;
  let answer = '';
  client.on('data', (data: Buffer) => void (answer += data.toString()));
  client.write(CURL_HELLO);
  await closed(client);
  t.equal(answer, 'answer');
  const sent = Buffer.concat(received);
  t.match(sent.toString('latin1'), new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 127\\.0\\.0\\.1 ${clientPort} ${h.port}\\r\\n`));
  t.same(sent.subarray(sent.indexOf('\r\n') + 2), CURL_HELLO);
  t.match(await h.outcome(), { sni: 'curl.example.com', alpn: 'h2,http/1.1', backend: `127.0.0.1:${backendPort}`, up: sent.length, down: 6, outcome: 'passed' });
  t.equal(h.handler.stats.passed, 1);
});

t.test('a request and FIN sent with the hello, before the backend has accepted, all reach the backend in order', async (t) => {
  const backend = await heldBackend(t);
  const h = await harness(t, { backends: parseBackends([`127.0.0.1:${backend.port}`]), backendConnectTimeoutMs: 60_000 });
  const client = net.connect({ port: h.port, host: '127.0.0.1', allowHalfOpen: true });
  client.on('error', ignore);
  t.teardown(() => client.destroy());
  const request = Buffer.from('GET / HTTP/1.0\r\n\r\n');
  // All at once, as a client that has nothing more to say does: hello, request, shutdown(SHUT_WR).
  client.end(Buffer.concat([CURL_HELLO, request]));
  let answer = '';
  client.on('data', (data: Buffer) => void (answer += data.toString()));
  // The FIN has reached the daemon while its backend connect is still held: only then may the backend accept.
  await waitUntil('the daemon to read the FIN', () => (h.accepted[0]?.readableEnded === true ? true : undefined), 10_000, 5);
  backend.release();
  await closed(client);
  t.equal(answer, `eof after ${CURL_HELLO.length + request.length} bytes`, 'the backend saw every byte, then EOF, and its answer came back');
  t.match(await h.outcome(), { outcome: 'passed', up: CURL_HELLO.length + request.length, reason: undefined });
});

t.test('a client that stalls in the handshake is closed at --handshake-timeout', async (t) => {
  const h = await harness(t, { lookup: () => undefined, handshakeTimeoutMs: 100 });
  h.handler.reconfigure({ ...h.options, lookup: (sni) => (sni === 'node.example.com' ? h.ready : undefined) });
  const client = await h.connect();
  client.resume();
  client.write(ACME_HELLO);
  await closed(client);
  t.match(await h.outcome(), { sni: 'node.example.com', outcome: 'failed', reason: 'handshake-timeout' });
});

t.test('a bug costs one connection, not the handler', async (t) => {
  const h = await harness(t, {
    lookup: () => {
      throw new Error('boom');
    },
  });
  const client = await h.connect();
  client.write(ACME_HELLO);
  await closed(client);
  await h.outcome();
  t.match(h.lines.find((line) => line.event === 'connection'), { level: 'error', fields: { outcome: 'failed', reason: 'internal-error', error: 'Error: boom' } });
  h.handler.reconfigure({ ...h.options, lookup: (sni) => (sni === NAME ? h.ready : undefined) });
  t.equal(await handshake(h.port), 'acme-tls/1 TLSv1.3');
});

t.test('drain waits for open connections, up to its timeout; destroyAll closes them', async (t) => {
  const h = await harness(t);
  await h.handler.drain(1000);
  t.pass('nothing open: at once');
  const client = await h.connect();
  await waitUntil('the connection taken', () => (h.handler.active === 1 ? true : undefined), 5000, 5);
  const started = Date.now();
  await h.handler.drain(50);
  t.ok(Date.now() - started >= 45, 'an idle connection holds drain until its timeout');
  const drained = h.handler.drain(5000);
  h.handler.destroyAll();
  await drained;
  await closed(client);
  t.equal(h.handler.active, 0);
});

t.test('a socket that closed before it was handed over is not counted as open', async (t) => {
  const h = await harness(t);
  const socket = new net.Socket();
  socket.destroy();
  h.handler.handle(socket);
  t.equal(h.handler.active, 0, 'nothing to wait for at shutdown');
  await h.handler.drain(5000);
});

t.test('a dead backend is logged at warn, once a second however many connections fail', async (t) => {
  const dead = net.createServer();
  await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
  const deadPort = (dead.address() as net.AddressInfo).port;
  await new Promise((resolve) => dead.close(resolve));
  const h = await harness(t, { backends: parseBackends([`127.0.0.1:${deadPort}`]) });
  for (let i = 0; i < 3; i++) {
    const client = await h.connect();
    client.write(CURL_HELLO);
    await closed(client);
  }
  await h.outcome(3);
  t.match(h.outcomes()[0], { outcome: 'backend-failed', reason: 'backend-unreachable:ECONNREFUSED', up: 0, down: 0 });
  const warnings = h.lines.filter((line) => line.event === 'backend-failed');
  t.match(warnings, [{ level: 'warn', fields: { backend: `127.0.0.1:${deadPort}`, reason: 'backend-unreachable:ECONNREFUSED' } }], 'the first at once, the rest counted');
  await waitUntil('the suppressed count', () => h.lines.find((line) => line.event === 'backend-failed' && line.fields.suppressed === 2), 5000, 10);
});

t.test('stalled challenge handshakes from many sources, each at its cap, filling the table: a CA handshake still gets in', async (t) => {
  const h = await harness(t, { limits: { maxConnections: 64, maxPerSource: 16 }, handshakeRate: { perSecond: 0.001, burst: 1000 }, handshakeTimeoutMs: 60_000 });
  const lookup = (sni: string | undefined): ReadyChallenge | undefined => (sni === NAME || sni === 'node.example.com' ? h.ready : undefined);
  h.handler.reconfigure({ ...h.options, lookup });
  // The attacker: 5 loopback sources × 16 = 80 connections for 64 + 4 (overflow) slots, each sending a real
  // acme-tls/1 hello for a deployed name, reading the server's flight, and never finishing.
  // One at a time, each hello answered before the next connects, as a patient attacker does.
  const fates: ('flight' | 'closed')[] = [];
  for (let source = 1; source <= 5; source++) {
    for (let i = 0; i < 16; i++) {
      const client = net.connect({ port: h.port, host: '127.0.0.1', localAddress: `127.0.4.${source}` });
      client.on('error', ignore);
      t.teardown(() => client.destroy());
      client.write(ACME_HELLO);
      fates.push(await new Promise((resolve) => {
        client.once('data', () => resolve('flight'));
        client.once('close', () => resolve('closed'));
      }));
    }
  }
  t.equal(h.handler.active, 64 + 4, 'the table and its overflow (1/16) are full of stalled handshakes');
  t.equal(await handshake(h.port), 'acme-tls/1 TLSv1.3', 'the CA (127.0.0.1) gets its certificate');
  t.equal(await handshake(h.port), 'acme-tls/1 TLSv1.3', 'and again: each CA connection gets in');
  const evicted = await waitUntil('an evicted handshake', () => h.outcomes().find((line) => line.outcome === 'failed'), 5000, 5);
  t.match(evicted, { reason: 'evicted', remote: /^127\.0\.4\./ }, 'an attacker\'s stalled handshake made room, logged as evicted');
});

t.test('a client that closes right after its handshake: served once its Finished is out; a TLS 1.3 client that drops its own Finished is told apart', async (t) => {
  const cases = [
    // TLS 1.2: the server's Finished comes after the client's, so secureConnect means both went out.
    { version: 'TLSv1.2', close: 'destroy', served: true },
    { version: 'TLSv1.2', close: 'end', served: true },
    // TLS 1.3: secureConnect fires before the client's Finished is written; destroy() there drops it (the client
    // has the certificate, the server never sees the handshake complete). end() flushes it first.
    { version: 'TLSv1.3', close: 'destroy', served: false },
    { version: 'TLSv1.3', close: 'end', served: true },
    // As Go's crypto/tls (Boulder, pebble) does: Handshake() returns once its Finished is written, then Close().
    { version: 'TLSv1.3', close: 'destroy-after-finished', served: true },
  ] as const;
  for (const { version, close, served } of cases) {
    const h = await harness(t);
    const got = await new Promise<string>((resolve) => {
      const client = tls.connect({ port: h.port, host: '127.0.0.1', servername: NAME, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false, minVersion: version, maxVersion: version });
      client.on('error', ignore);
      client.once('secureConnect', () => {
        const seen = `${client.alpnProtocol} ${client.getProtocol()} ${client.getPeerCertificate().subjectaltname}`;
        if (close === 'end') client.end();
        else if (close === 'destroy') client.destroy();
        else setImmediate(() => client.destroy());
        resolve(seen);
      });
      client.once('close', () => resolve('closed before secureConnect'));
    });
    t.equal(got, `acme-tls/1 ${version} DNS:${NAME}`, `${version} ${close}: the client got the challenge certificate`);
    const outcome = await h.outcome();
    if (served) {
      t.match(outcome, { outcome: 'served', tls: version }, `${version} ${close}: logged as served`);
      t.same(h.handler.stats, { served: 1, passed: 0, rejected: 0 }, `${version} ${close}: counted as served`);
    } else {
      t.match(outcome, { outcome: 'failed', reason: 'closed-before-client-finished' }, `${version} ${close}: the certificate went out, the client's Finished never came`);
      t.same(h.handler.stats, { served: 0, passed: 0, rejected: 1 }, `${version} ${close}: not counted as served`);
    }
    t.equal(h.ready.served, served ? 1 : 0, `${version} ${close}: counted for the name accordingly`);
  }
});
