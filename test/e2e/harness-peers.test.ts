/**
 * Proves the passthrough harness against the real peers before any daemon test leans on it: nginx as the HTTPS
 * backend (exact bodies over HTTP/1.1 and h2, PROXY protocol on its listen), and nginx `stream` and HAProxy as
 * fronts that route by ALPN, byte for byte, with and without a PROXY header.
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import { IN_CI, requirePeers, waitUntil } from '../helpers/daemon.js';
import { HAPROXY_PEERS, startHaproxy } from '../helpers/haproxy.js';
import { httpsGet } from '../helpers/https-client.js';
import { formatEndpoint, NGINX_PEERS, NGINX_STREAM_MODULE, startNginx, type Endpoint, type NginxHttpsBackend } from '../helpers/nginx.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const ignore = (): void => undefined;

/** Everything one accepted connection sent. */
interface Recorded {
  data: Buffer;
}

/** A TCP server that never answers and keeps every byte each connection sends: a stand-in upstream. */
interface Recorder {
  endpoint: Endpoint;
  connections: Recorded[];
}

async function startRecorder(t: Test): Promise<Recorder> {
  const connections: Recorded[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const entry: Recorded = { data: Buffer.alloc(0) };
    connections.push(entry);
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => (entry.data = Buffer.concat([entry.data, chunk])));
    socket.on('error', ignore);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { endpoint: { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port }, connections };
}

/** Length of the first TLS record in `data` once it is all there (Node sends its ClientHello in one record). */
function firstRecordLength(data: Buffer): number | undefined {
  if (data.length < 5 || data[0] !== 0x16) return undefined;
  const length = 5 + data.readUInt16BE(3);
  return data.length >= length ? length : undefined;
}

/** A real ClientHello from Node's TLS client offering `alpn` (no ALPN extension when undefined). */
async function captureHello(t: Test, alpn: string[] | undefined): Promise<Buffer> {
  const recorder = await startRecorder(t);
  const client = tls.connect({ ...recorder.endpoint, servername: 'front.example.test', ALPNProtocols: alpn });
  client.on('error', ignore);
  try {
    return await waitUntil(`ClientHello offering ${String(alpn)}`, () => {
      const data = recorder.connections[0]?.data;
      const length = data && firstRecordLength(data);
      return data && length ? data.subarray(0, length) : undefined;
    });
  } finally {
    client.destroy();
  }
}

/** A PROXY v1 or v2 (TCP over IPv4) header at the start of a connection. */
interface ProxyHeader {
  version: 1 | 2;
  source: string;
  sourcePort: number;
  destination: string;
  destinationPort: number;
  /** Bytes the header takes, TLVs included. */
  length: number;
}

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** The header if `data` starts with a complete one, undefined if it has none (yet). */
function parseProxyHeader(data: Buffer): ProxyHeader | undefined {
  const v1 = /^PROXY TCP4 (\S+) (\S+) (\d+) (\d+)\r\n/.exec(data.subarray(0, 108).toString('latin1'));
  if (v1) {
    const [line = '', source = '', destination = '', sourcePort, destinationPort] = v1;
    return { version: 1, source, destination, sourcePort: Number(sourcePort), destinationPort: Number(destinationPort), length: line.length };
  }
  if (data.length < 28 || !data.subarray(0, 12).equals(V2_SIGNATURE)) return undefined;
  // 0x21: version 2, PROXY command; 0x11: TCP over IPv4.
  if (data[12] !== 0x21 || data[13] !== 0x11) throw new Error(`unexpected PROXY v2 command/family ${data.subarray(12, 14).toString('hex')}`);
  const length = 16 + data.readUInt16BE(14);
  if (data.length < length) return undefined;
  const ip = (at: number): string => [...data.subarray(at, at + 4)].join('.');
  return { version: 2, source: ip(16), destination: ip(20), sourcePort: data.readUInt16BE(24), destinationPort: data.readUInt16BE(26), length };
}

/** The ClientHellos a front has to tell apart. */
interface Hellos {
  acme: Buffer;
  h2: Buffer;
  none: Buffer;
}

async function captureHellos(t: Test): Promise<Hellos> {
  return { acme: await captureHello(t, ['acme-tls/1']), h2: await captureHello(t, ['h2', 'http/1.1']), none: await captureHello(t, undefined) };
}

/**
 * Replays each hello through the front on a raw socket and checks it reached the right upstream, after exactly
 * the expected PROXY header, with every byte unchanged.
 */
async function checkRouting(t: Test, front: Endpoint, upstreams: { acme: Recorder; web: Recorder }, hellos: Hellos, proxy: 0 | 1 | 2): Promise<void> {
  const cases = [
    { offer: 'acme-tls/1', hello: hellos.acme, to: 'acme' },
    { offer: 'h2,http/1.1', hello: hellos.h2, to: 'web' },
    { offer: 'no ALPN', hello: hellos.none, to: 'web' },
  ] as const;
  for (const { offer, hello, to } of cases) {
    const target = upstreams[to];
    const other = upstreams[to === 'acme' ? 'web' : 'acme'];
    const before = { target: target.connections.length, other: other.connections.length };
    const client = net.connect(front.port, front.host);
    client.on('error', ignore);
    t.teardown(() => client.destroy());
    await new Promise((resolve) => client.once('connect', resolve));
    client.write(hello);
    const { header, rest } = await waitUntil(`${offer} hello forwarded to ${to}`, () => {
      const data = target.connections[before.target]?.data;
      if (data === undefined) return undefined;
      const header = parseProxyHeader(data);
      if (proxy !== 0 && header === undefined) return undefined;
      const rest = data.subarray(header?.length ?? 0);
      return rest.length >= hello.length ? { header, rest } : undefined;
    });
    t.equal(other.connections.length, before.other, `${offer}: nothing reached the ${to === 'acme' ? 'web' : 'acme'} upstream`);
    if (proxy === 0) {
      t.equal(header, undefined, `${offer}: no PROXY header`);
    } else {
      t.same(
        header && { ...header, length: undefined },
        { version: proxy, source: '127.0.0.1', sourcePort: client.localPort, destination: '127.0.0.1', destinationPort: front.port, length: undefined },
        `${offer}: PROXY v${proxy} header names the client and the front`,
      );
    }
    t.ok(rest.equals(hello), `${offer}: ClientHello reached ${to} byte for byte`, { sent: hello.length, received: rest.length });
    client.destroy();
  }
}

/** Peers for an nginx stream front: the module is a separate Debian package, so it gets the same CI rule as binaries. */
function streamPeers(more: readonly string[] = []): { skip?: string } {
  const options = requirePeers(t, [...NGINX_PEERS, ...more]);
  if (options.skip !== undefined || existsSync(NGINX_STREAM_MODULE)) return options;
  if (IN_CI) t.fail(`missing ${NGINX_STREAM_MODULE} (libnginx-mod-stream) — .ci/run must install it`);
  return { skip: `missing ${NGINX_STREAM_MODULE} (libnginx-mod-stream)` };
}

/** GET through `via` (the backend itself or a front) for a name in the backend's certificate. */
async function get(backend: NginxHttpsBackend, via: Endpoint, urlPath: string, http2: boolean, proxyHeader?: string | Buffer) {
  return httpsGet({ host: via.host, port: via.port, servername: backend.serverNames[0] ?? '', path: urlPath, http2, ca: await readFile(backend.certPath), proxyHeader });
}

t.test('nginx HTTPS backend serves exact bodies over HTTP/1.1 and h2', requirePeers(t, NGINX_PEERS), async (t) => {
  const backend = await startNginx(t, { mode: 'https-backend', serverNames: ['backend.example.test', 'www.backend.example.test'] });
  const ca = await readFile(backend.certPath);
  t.same(backend.bodies.map((b) => b.size), [0, 1024, 10 * 1024 * 1024], 'default bodies: 0 B, 1 KiB, 10 MiB');
  for (const body of backend.bodies) {
    const digests: string[] = [];
    for (const http2 of [false, true]) {
      const label = `${body.urlPath} over ${http2 ? 'h2' : 'HTTP/1.1'}`;
      const response = await get(backend, backend, body.urlPath, http2);
      t.equal(response.status, 200, `${label}: 200`);
      t.equal(response.protocol, http2 ? 'h2' : 'http/1.1', `${label}: ALPN`);
      t.equal(response.body.length, body.size, `${label}: ${body.size} bytes`);
      t.equal(response.peerCertificate.subject.CN, 'backend.example.test', `${label}: served by the backend's certificate`);
      digests.push(sha256(response.body));
    }
    t.same(digests, [body.sha256, body.sha256], `${body.urlPath}: identical bytes over both protocols`);
  }

  const other = await httpsGet({ host: backend.host, port: backend.port, servername: 'www.backend.example.test', path: '/bytes/7', ca });
  t.equal(other.status, 404, 'a second certificate name verifies, and an undeclared size is 404');

  const log = await waitUntil('7 access log lines', async () => {
    const entries = await backend.readAccessLog();
    return entries.length >= 7 ? entries : undefined;
  });
  t.same(
    // nginx's own 404 page has no fixed size.
    log.map((e) => [e.serverProtocol, e.alpn, e.request, e.status, e.status === 200 ? e.bodyBytesSent : 'page', e.sslServerName]),
    [
      ...backend.bodies.flatMap((b) => [
        ['HTTP/1.1', 'http/1.1', `GET ${b.urlPath} HTTP/1.1`, 200, b.size, 'backend.example.test'],
        ['HTTP/2.0', 'h2', `GET ${b.urlPath} HTTP/2.0`, 200, b.size, 'backend.example.test'],
      ]),
      ['HTTP/1.1', 'http/1.1', 'GET /bytes/7 HTTP/1.1', 404, 'page', 'www.backend.example.test'],
    ],
    'access log: one line per request with protocol, status and body size',
  );
  t.ok(log.every((e) => e.remoteAddr === '127.0.0.1' && e.proxyProtocolAddr === ''), 'no PROXY header, so no proxy_protocol_addr');
});

t.test('nginx HTTPS backend with proxy_protocol on its listen', requirePeers(t, NGINX_PEERS), async (t) => {
  const v1 = 'PROXY TCP4 203.0.113.7 127.0.0.1 5555 443\r\n';
  const v2 = Buffer.concat([
    V2_SIGNATURE,
    Buffer.from([0x21, 0x11, 0x00, 12, 203, 0, 113, 7, 127, 0, 0, 1]),
    Buffer.from([5555 >> 8, 5555 & 0xff, 443 >> 8, 443 & 0xff]),
  ]);
  for (const realIp of [false, true]) {
    await t.test(realIp ? 'real_ip_header proxy_protocol' : 'plain', async (t) => {
      const backend = await startNginx(t, { mode: 'https-backend', proxyProtocol: true, realIp, bodySizes: [1024] });
      const cases = [
        { header: v1, http2: false, name: 'v1 header, HTTP/1.1' },
        { header: v2, http2: true, name: 'v2 header, h2' },
      ];
      for (const { header, http2, name } of cases) {
        const response = await get(backend, backend, '/bytes/1024', http2, header);
        t.equal(sha256(response.body), backend.bodies[0]?.sha256, `${name}: TLS and the body pass after the header`);
      }
      const log = await waitUntil('2 access log lines', async () => {
        const entries = await backend.readAccessLog();
        return entries.length >= 2 ? entries : undefined;
      });
      for (const [i, entry] of log.entries()) {
        const name = cases[i]?.name ?? '';
        t.equal(entry.proxyProtocolAddr, '203.0.113.7', `${name}: proxy_protocol_addr is the header's source`);
        t.equal(entry.proxyProtocolPort, '5555', `${name}: proxy_protocol_port is the header's source port`);
        t.equal(entry.remoteAddr, realIp ? '203.0.113.7' : '127.0.0.1', `${name}: remote_addr ${realIp ? 'replaced' : 'kept'}`);
        t.equal(entry.realipRemoteAddr, '127.0.0.1', `${name}: the TCP peer is still known`);
      }
    });
  }
  await t.test('a connection without the header is refused', async (t) => {
    const backend = await startNginx(t, { mode: 'https-backend', proxyProtocol: true, bodySizes: [] });
    await t.rejects(get(backend, backend, '/', false), 'TLS fails when nginx expects a PROXY header');
  });
});

t.test('nginx stream front routes by ALPN', streamPeers(), async (t) => {
  const hellos = await captureHellos(t);
  for (const proxyProtocol of [false, true]) {
    await t.test(`proxy_protocol ${proxyProtocol ? 'on' : 'off'}`, async (t) => {
      const acme = await startRecorder(t);
      const web = await startRecorder(t);
      const front = await startNginx(t, { mode: 'stream-front', acme: acme.endpoint, backend: web.endpoint, proxyProtocol });
      await checkRouting(t, front, { acme, web }, hellos, proxyProtocol ? 1 : 0);
      const log = await waitUntil('3 stream log lines', async () => {
        const entries = await front.readAccessLog();
        return entries.length >= 3 ? entries : undefined;
      });
      t.same(
        log.map((e) => [e.alpnProtocols, e.upstreamAddr]).sort(),
        [
          ['', formatEndpoint(web.endpoint)],
          ['acme-tls/1', formatEndpoint(acme.endpoint)],
          ['h2,http/1.1', formatEndpoint(web.endpoint)],
        ],
        'stream log: offered ALPN and chosen upstream per session',
      );
    });
  }
});

t.test('HAProxy front routes by ALPN', requirePeers(t, HAPROXY_PEERS), async (t) => {
  const hellos = await captureHellos(t);
  for (const proxyProtocol of [undefined, 'v1', 'v2'] as const) {
    await t.test(`PROXY protocol ${proxyProtocol ?? 'off'}`, async (t) => {
      const acme = await startRecorder(t);
      const web = await startRecorder(t);
      const front = await startHaproxy(t, { acme: acme.endpoint, backend: web.endpoint, proxyProtocol });
      await checkRouting(t, front, { acme, web }, hellos, proxyProtocol === 'v1' ? 1 : proxyProtocol === 'v2' ? 2 : 0);
    });
  }
});

t.test('fronts compose with the nginx backend: HTTPS passes through, PROXY header names the client', streamPeers(HAPROXY_PEERS), async (t) => {
  const backend = await startNginx(t, { mode: 'https-backend', proxyProtocol: true, bodySizes: [1024] });
  const acme = await startRecorder(t);
  const fronts = [
    { name: 'nginx stream (v1)', endpoint: await startNginx(t, { mode: 'stream-front', acme: acme.endpoint, backend, proxyProtocol: true }) },
    { name: 'HAProxy (v2)', endpoint: await startHaproxy(t, { acme: acme.endpoint, backend, proxyProtocol: 'v2' }) },
  ];
  const ports: number[] = [];
  for (const { name, endpoint } of fronts) {
    const response = await get(backend, endpoint, '/bytes/1024', true);
    t.equal(sha256(response.body), backend.bodies[0]?.sha256, `${name}: h2 body intact through the front`);
    ports.push(response.localPort);
  }
  const log = await waitUntil(`${fronts.length} access log lines`, async () => {
    const entries = await backend.readAccessLog();
    return entries.length >= fronts.length ? entries : undefined;
  });
  t.same(
    log.map((e) => [e.proxyProtocolAddr, Number(e.proxyProtocolPort)]),
    ports.map((port) => ['127.0.0.1', port]),
    'the backend logs each real client port from the front\'s PROXY header',
  );
  t.equal(acme.connections.length, 0, 'no HTTPS connection went to the acme upstream');
});
