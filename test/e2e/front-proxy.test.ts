/**
 * Layout (c) with real peers: nginx `stream` + `ssl_preread` or HAProxy owns the public port, sends `acme-tls/1`
 * to the daemon (which then requires a PROXY header and logs the client it names) and everything else to a real
 * nginx HTTPS backend; and the same layout exactly as docs/layouts.md writes it.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { parseBackends } from '../../src/net/backends.js';
import { IN_CI, logField, requirePeers, waitUntil } from '../helpers/daemon.js';
import { HAPROXY_PEERS, startHaproxy } from '../helpers/haproxy.js';
import { httpsGet } from '../helpers/https-client.js';
import {
  attemptTls,
  dehydratedDigest,
  readSnippet,
  startDocumentedDaemon,
  startDocumentedWebServer,
  startInProcessDaemon,
  substitute,
  validateAcme,
  type InProcessDaemon,
} from '../helpers/layouts.js';
import { formatEndpoint, NGINX_PEERS, NGINX_STREAM_MODULE, startNginx, type Endpoint, type NginxHttpsBackend } from '../helpers/nginx.js';

// The last overload of t.test is `(cb)`, whose argument is the fully plugged-in Test type.
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Peers for an nginx stream front: the module is a separate Debian package, so it gets the same CI rule as binaries. */
function streamPeers(more: readonly string[] = [], needBuild = false): { skip?: string } {
  const options = requirePeers(t, [...NGINX_PEERS, ...more], needBuild);
  if (options.skip !== undefined || existsSync(NGINX_STREAM_MODULE)) return options;
  if (IN_CI) t.fail(`missing ${NGINX_STREAM_MODULE} (libnginx-mod-stream) — .ci/run must install it`);
  return { skip: `missing ${NGINX_STREAM_MODULE} (libnginx-mod-stream)` };
}

/** The daemon as layout (c) runs it: loopback only, every connection behind a PROXY header. */
function startDaemonBehindFront(t: Test): Promise<InProcessDaemon> {
  return startInProcessDaemon(t, { listen: [{ host: '127.0.0.1', port: 0 }], acceptProxyProtocol: true });
}

/**
 * Through `front`: a validation reaches the daemon, which logs the client named by the front's PROXY header and
 * the front as `via`; HTTPS reaches the backend, which logs the same client from its own PROXY header.
 */
async function checkFront(t: Test, front: Endpoint, d: InProcessDaemon, backend: NginxHttpsBackend): Promise<void> {
  const clientHost = front.host;
  const validation = await validateAcme(front, 'acme.example.test');
  t.same(validation.check, { ok: true }, 'acme-tls/1 through the front gets the challenge certificate');
  t.equal(validation.alpn, 'acme-tls/1');
  const [event] = await waitUntil('the validation logged', () => (d.connections.length > 0 ? d.connections : undefined));
  const remote = formatEndpoint({ host: clientHost, port: validation.localPort });
  t.match(event, { outcome: 'served', sni: 'acme.example.test', remote }, `remote= is the real client ${remote}, from the PROXY header`);
  t.match(event?.via, /^127\.0\.0\.1:\d+$/, 'via= is the front\'s connection to the daemon');
  t.not(event?.via, remote, 'via= is not the client');

  const response = await httpsGet({ ...front, servername: 'backend.example.test', path: '/bytes/1024', http2: true, ca: await readFile(backend.certPath) });
  t.equal(sha256(response.body), backend.bodies[0]?.sha256, 'HTTPS through the front reaches the backend, body intact');
  const [entry] = await waitUntil('the request logged', async () => {
    const entries = await backend.readAccessLog();
    return entries.length > 0 ? entries : undefined;
  });
  t.same(
    [entry?.proxyProtocolAddr, entry?.proxyProtocolPort],
    [clientHost, String(response.localPort)],
    'the backend logs the real client from the front\'s PROXY header',
  );
  t.equal(d.connections.length, 1, 'the daemon saw nothing of the HTTPS connection');
}

t.test('nginx stream front (ssl_preread, proxy_protocol on): acme-tls/1 to the daemon, the rest to nginx', streamPeers(), async (t) => {
  const backend = await startNginx(t, { mode: 'https-backend', proxyProtocol: true, bodySizes: [1024] });
  const d = await startDaemonBehindFront(t);
  await d.deploy('acme.example.test');
  const [daemonEndpoint] = d.endpoints as [Endpoint];
  const front = await startNginx(t, { mode: 'stream-front', acme: daemonEndpoint, backend, proxyProtocol: true });
  await checkFront(t, front, d, backend);
  const sessions = await waitUntil('2 stream sessions logged', async () => {
    const entries = await front.readAccessLog();
    return entries.length >= 2 ? entries : undefined;
  });
  t.same(
    sessions.map((e) => [e.alpnProtocols, e.upstreamAddr]),
    [
      ['acme-tls/1', formatEndpoint(daemonEndpoint)],
      ['h2', formatEndpoint(backend)],
    ],
    'nginx routed each session by its ALPN list',
  );
});

t.test('HAProxy front (send-proxy-v2) on [::1]: acme-tls/1 to the daemon, the rest to nginx', requirePeers(t, [...HAPROXY_PEERS, ...NGINX_PEERS]), async (t) => {
  const backend = await startNginx(t, { mode: 'https-backend', proxyProtocol: true, bodySizes: [1024] });
  const d = await startDaemonBehindFront(t);
  await d.deploy('acme.example.test');
  const front = await startHaproxy(t, { host: '::1', acme: d.endpoints[0] as Endpoint, backend, proxyProtocol: 'v2' });
  await checkFront(t, front, d, backend);
});

/** Sends `bytes` on a fresh connection and resolves with what came back once the daemon closed it. */
function sendRaw(to: Endpoint, bytes: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(to.port, to.host, () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('end', () => {
      socket.destroy();
      resolve(Buffer.concat(chunks));
    });
  });
}

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

t.test('with --accept-proxy-protocol, a missing or malformed PROXY header is refused', async (t) => {
  const d = await startDaemonBehindFront(t);
  await d.deploy('acme.example.test');
  const [to] = d.endpoints as [Endpoint];

  const direct = await attemptTls(to, { servername: 'acme.example.test', ALPNProtocols: ['acme-tls/1'] });
  t.match(direct, { handshake: false, hung: false }, 'a validation without a header is closed unanswered');
  const garbage: [string, Uint8Array][] = [
    ['plain HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: acme.example.test\r\n\r\n')],
    ['v1 with an IPv4 address out of range', Buffer.from('PROXY TCP4 256.0.0.1 127.0.0.1 5555 443\r\n')],
    ['v1 with a leading-zero port', Buffer.from('PROXY TCP4 192.0.2.1 127.0.0.1 05555 443\r\n')],
    ['v1 with an unknown protocol', Buffer.from('PROXY UDP4 192.0.2.1 127.0.0.1 5555 443\r\n')],
    ['v2 with version 3', Buffer.concat([V2_SIGNATURE, Buffer.from([0x31, 0x11, 0x00, 0x0c])])],
    ['v2 with an undefined family', Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0xff, 0x00, 0x00])])],
    ['v2 with a TCP4 block too short', Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4])])],
  ];
  for (const [name, bytes] of garbage) t.equal((await sendRaw(to, bytes)).length, 0, `${name}: closed without a byte`);

  const events = await waitUntil('every refusal logged', () => (d.connections.length >= 1 + garbage.length ? d.connections : undefined));
  t.ok(
    events.every((e) => e.outcome === 'rejected' && String(e.reason).startsWith('invalid-hello:proxy-header')),
    'each logged outcome=rejected reason=invalid-hello:proxy-header…',
    { reasons: events.map((e) => e.reason) },
  );

  // Valid headers by hand, to pin down what the log names: the header's source as remote, the TCP peer as via.
  const spoofed = await validateAcme(to, 'acme.example.test', 'PROXY TCP4 203.0.113.7 192.0.2.1 5555 443\r\n');
  t.same(spoofed.check, { ok: true }, 'a valid v1 header: served');
  // A v2 LOCAL header (a front's health check) carries no client: the socket's own peer is used.
  const local = await validateAcme(to, 'acme.example.test', Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]));
  t.same(local.check, { ok: true }, 'a v2 LOCAL header: served');
  const served = await waitUntil('both served', () => {
    const found = d.connections.filter((e) => e.outcome === 'served');
    return found.length >= 2 ? found : undefined;
  });
  t.same(
    served.map((e) => [e.remote, e.via]),
    [
      ['203.0.113.7:5555', `127.0.0.1:${spoofed.localPort}`],
      [`127.0.0.1:${local.localPort}`, undefined],
    ],
    'remote= from a PROXY header and via= the peer; LOCAL logs the peer as remote',
  );
});

t.test('docs/layouts.md (c): the documented nginx stream and HAProxy fronts, web server and daemon command', streamPeers(HAPROXY_PEERS, true), async (t) => {
  const web = await startDocumentedWebServer(t);
  const daemon = await startDocumentedDaemon(t, 'daemon-behind-front', { '127.0.0.1:10443': '127.0.0.1:0' });
  const daemonEndpoint = { host: '127.0.0.1', port: daemon.listeners[0]?.port ?? 0 };
  t.match((await daemon.request(`deploy example.org ${dehydratedDigest('example.org')}`)).at(-1), /^OK /, 'deployed');
  const upstreams = { '127.0.0.1:10443': formatEndpoint(daemonEndpoint), '127.0.0.1:8443': formatEndpoint(web.nginx) };
  const nginxStream = await readSnippet('nginx-stream');
  const haproxy = await readSnippet('haproxy');
  const fronts = [
    {
      name: 'nginx stream',
      start: () =>
        startNginx(t, {
          mode: 'snippet',
          main: (port) => substitute(nginxStream, { 'listen 443;': `listen 127.0.0.1:${port};`, 'listen [::]:443;': `listen [::1]:${port};`, ...upstreams }),
        }),
    },
    {
      name: 'HAProxy',
      start: () => startHaproxy(t, { sections: (port) => substitute(haproxy, { 'bind :443': `bind 127.0.0.1:${port}`, 'bind :::443': `bind [::1]:${port}`, ...upstreams }) }),
    },
  ];
  for (const [i, { name, start }] of fronts.entries()) {
    const { port } = await start();
    const validation = await validateAcme({ host: '127.0.0.1', port }, 'example.org');
    t.same(validation.check, { ok: true }, `${name}: a validation on the public port reaches the daemon`);
    const line = await waitUntil(`${name}: validation logged`, () =>
      daemon.logLines().filter((l) => logField(l, 'event') === 'connection')[i],
    );
    t.same(
      [logField(line, 'outcome'), logField(line, 'remote')],
      ['served', `127.0.0.1:${validation.localPort}`],
      `${name}: the daemon logs the client from the front's PROXY header`,
    );
    t.match(logField(line, 'via'), /^127\.0\.0\.1:\d+$/, `${name}: and the front as via`);

    const response = await httpsGet({ host: '::1', port, servername: 'example.org', path: '/index.html', http2: true, ca: web.ca });
    t.ok(response.body.equals(web.page), `${name}: HTTPS from an IPv6 client reaches the web server`);
    const log = await waitUntil(`${name}: request logged`, async () => (await web.accessLog())[i]);
    t.equal(log.split(' ')[0], '::1', `${name}: the web server logs the IPv6 client`);
  }
});
