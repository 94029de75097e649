/**
 * Layout (b) with real peers: the daemon in front of a real nginx HTTPS backend passes every connection that is
 * not an ACME validation through byte for byte — optionally behind a PROXY header that nginx logs — while still
 * answering acme-tls/1 on the same port; and layouts (a) and (b) exactly as docs/layouts.md writes them.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { parseBackends } from '../../src/net/backends.js';
import { cleanEnv, freePort, logField, REPO_ROOT, requirePeers, run, waitUntil } from '../helpers/daemon.js';
import { httpsGet } from '../helpers/https-client.js';
import {
  attemptTls,
  dehydratedDigest,
  readSnippet,
  snippetMarkers,
  SNIPPET_NAMES,
  startDocumentedDaemon,
  startDocumentedWebServer,
  startInProcessDaemon,
  substitute,
  validateAcme,
} from '../helpers/layouts.js';
import { formatEndpoint, NGINX_PEERS, startNginx, type Endpoint, type NginxHttpAccessLogEntry, type NginxHttpsBackend } from '../helpers/nginx.js';
import { shortTempDir } from '../helpers/tmp.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const ignore = (): void => undefined;

/**
 * One HTTP/1.1 request on a TLS connection that is already up, answered by a `Connection: close` response, so a
 * test can hold a passed-through connection open while it does something else.
 */
function getOnOpenConnection(socket: tls.TLSSocket, host: string, urlPath: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('end', () => {
      const response = Buffer.concat(chunks);
      const head = response.indexOf('\r\n\r\n');
      if (!response.subarray(0, 13).equals(Buffer.from('HTTP/1.1 200 ')) || head < 0) reject(new Error(`unexpected response ${response.subarray(0, 80).toString('latin1')}`));
      else resolve(response.subarray(head + 4));
    });
    socket.write(`GET ${urlPath} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

/** The backend's access log once it has `count` lines: nginx writes each as its request completes. */
function accessLog(backend: NginxHttpsBackend, count: number): Promise<NginxHttpAccessLogEntry[]> {
  return waitUntil(`${count} access log lines`, async () => {
    const entries = await backend.readAccessLog();
    return entries.length >= count ? entries : undefined;
  });
}

t.test('docs/layouts.md marks exactly the snippets these tests run', async (t) => {
  t.same(await snippetMarkers(), [...SNIPPET_NAMES]);
});

t.test('HTTPS through the daemon reaches nginx byte for byte, HTTP/1.1 and h2, IPv4 and IPv6; acme-tls/1 is still answered', requirePeers(t, NGINX_PEERS), async (t) => {
  const backend = await startNginx(t, { mode: 'https-backend' });
  const ca = await readFile(backend.certPath);
  const d = await startInProcessDaemon(t, { backends: parseBackends([formatEndpoint(backend)]) });
  await d.deploy('acme.example.test');
  const [v4, v6] = d.endpoints as [Endpoint, Endpoint];
  t.same([v4.host, v6.host], ['127.0.0.1', '::1'], 'daemon listens on both loopbacks');

  const passed: { remote: string; size: number }[] = [];
  for (const via of d.endpoints) {
    for (const body of backend.bodies) {
      for (const http2 of [false, true]) {
        const label = `${body.urlPath} over ${http2 ? 'h2' : 'HTTP/1.1'} via ${formatEndpoint(via)}`;
        const response = await httpsGet({ ...via, servername: 'backend.example.test', path: body.urlPath, http2, ca });
        t.equal(response.status, 200, `${label}: 200`);
        t.equal(response.protocol, http2 ? 'h2' : 'http/1.1', `${label}: nginx negotiated the protocol`);
        t.equal(sha256(response.body), body.sha256, `${label}: identical bytes (${body.size} B)`);
        passed.push({ remote: formatEndpoint({ host: via.host, port: response.localPort }), size: body.size });
      }
    }
  }

  // A passed-through connection is up (TLS with nginx done) while the CA validates on the same port.
  const open = tls.connect({ ...v4, servername: 'backend.example.test', ca, ALPNProtocols: ['http/1.1'] });
  t.teardown(() => open.destroy());
  await new Promise((resolve, reject) => open.once('secureConnect', resolve).once('error', reject));
  const validation = await validateAcme(v4, 'acme.example.test');
  t.same(validation.check, { ok: true }, 'acme-tls/1 gets the challenge certificate while a passthrough is open');
  t.equal(validation.alpn, 'acme-tls/1');
  const body = backend.bodies.find((b) => b.size === 1024);
  t.equal(sha256(await getOnOpenConnection(open, 'backend.example.test', '/bytes/1024')), body?.sha256, 'the open connection then completes its request');
  passed.push({ remote: formatEndpoint({ host: v4.host, port: open.localPort ?? 0 }), size: 1024 });

  const events = await waitUntil('every connection logged', () => (d.connections.length >= passed.length + 1 ? d.connections : undefined));
  const passedEvents = events.filter((e) => e.outcome === 'passed');
  t.same(
    passedEvents.map((e) => e.remote).sort(),
    passed.map((p) => p.remote).sort(),
    'one outcome=passed event per connection, naming the client',
  );
  t.ok(passedEvents.every((e) => e.backend === formatEndpoint(backend)), 'each names the backend');
  const largest = passedEvents.filter((e) => passed.some((p) => p.remote === e.remote && p.size === 10 * 1024 * 1024));
  t.ok(largest.length === 4 && largest.every((e) => Number(e.down) > 10 * 1024 * 1024), '10 MiB downloads: down= covers every byte of the body');
  t.same(
    events.filter((e) => e.outcome === 'served').map((e) => [e.sni, e.alpn]),
    [['acme.example.test', 'acme-tls/1']],
    'the one validation was served by the daemon, not passed',
  );
  const log = await accessLog(backend, passed.length);
  t.equal(log.length, passed.length, 'nginx logged every request, once');
  t.ok(log.every((e) => e.remoteAddr === '127.0.0.1'), 'without a PROXY header nginx sees only the daemon');
});

t.test('PROXY header to the backend: nginx logs the real client address and port', requirePeers(t, NGINX_PEERS), async (t) => {
  for (const version of ['v1', 'v2'] as const) {
    await t.test(`--backend-proxy-protocol ${version}`, async (t) => {
      const backend = await startNginx(t, { mode: 'https-backend', proxyProtocol: true, realIp: true, bodySizes: [1024] });
      const ca = await readFile(backend.certPath);
      const d = await startInProcessDaemon(t, { backends: parseBackends([formatEndpoint(backend)]), backendProxyProtocol: version });
      const clients: [string, number][] = [];
      for (const via of d.endpoints) {
        for (const http2 of [false, true]) {
          const response = await httpsGet({ ...via, servername: 'backend.example.test', path: '/bytes/1024', http2, ca });
          t.equal(sha256(response.body), backend.bodies[0]?.sha256, `${formatEndpoint(via)} ${http2 ? 'h2' : 'HTTP/1.1'}: body intact after the header`);
          clients.push([via.host, response.localPort]);
        }
      }
      const log = await accessLog(backend, clients.length);
      t.same(
        log.map((e) => [e.proxyProtocolAddr, e.proxyProtocolPort, e.remoteAddr, e.realipRemoteAddr]),
        clients.map(([host, port]) => [host, String(port), host, '127.0.0.1']),
        '$proxy_protocol_addr/port are the client (::1 for the IPv6 client), real_ip makes it $remote_addr; the TCP peer is the daemon',
      );
    });
  }
});

t.test('per-SNI backends: each name lands on its own nginx, acme-tls/1 stays with the daemon', requirePeers(t, NGINX_PEERS), async (t) => {
  const a = await startNginx(t, { mode: 'https-backend', serverNames: ['a.example.test', 'x.w.example.test'], bodySizes: [1024] });
  const fallback = await startNginx(t, { mode: 'https-backend', serverNames: ['backend.example.test', 'other.example.test'], bodySizes: [1024] });
  const d = await startInProcessDaemon(t, {
    backends: parseBackends([`a.example.test=${formatEndpoint(a)}`, `*.w.example.test=${formatEndpoint(a)}`, formatEndpoint(fallback)]),
  });
  await d.deploy('a.example.test');
  const [via] = d.endpoints as [Endpoint];
  const cases = [
    { name: 'a.example.test', to: a, rule: 'exact name' },
    { name: 'x.w.example.test', to: a, rule: 'wildcard' },
    { name: 'backend.example.test', to: fallback, rule: 'default' },
    { name: 'other.example.test', to: fallback, rule: 'default' },
  ];
  for (const { name, to, rule } of cases) {
    // Only the intended backend's own certificate verifies.
    const response = await httpsGet({ ...via, servername: name, path: '/bytes/1024', http2: true, ca: await readFile(to.certPath) });
    t.equal(sha256(response.body), to.bodies[0]?.sha256, `${name} (${rule}) reached the nginx holding its certificate`);
  }
  const validation = await validateAcme(via, 'a.example.test');
  t.same(validation.check, { ok: true }, 'acme-tls/1 for a.example.test is answered by the daemon despite its backend rule');
  t.same((await accessLog(a, 2)).map((e) => e.sslServerName), ['a.example.test', 'x.w.example.test'], 'nginx a logged its two names only');
  t.same((await accessLog(fallback, 2)).map((e) => e.sslServerName), ['backend.example.test', 'other.example.test'], 'the default logged the rest');
});

t.test('a backend that is down or resets: the client is closed at once, the daemon keeps serving', async (t) => {
  const closedPort = await freePort();
  /** First bytes each connection to a resetting backend got. */
  const resets: Buffer[] = [];
  const resettingBackend = async (answer: Buffer | undefined): Promise<number> => {
    const server = net.createServer((socket) => {
      socket.on('error', ignore);
      socket.once('data', (chunk: Buffer) => {
        resets.push(chunk);
        if (answer === undefined) socket.resetAndDestroy();
        else socket.write(answer, () => socket.resetAndDestroy());
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.teardown(() => server.close());
    return (server.address() as net.AddressInfo).port;
  };
  const d = await startInProcessDaemon(t, {
    backends: parseBackends([
      `down.example.test=127.0.0.1:${closedPort}`,
      `reset.example.test=127.0.0.1:${await resettingBackend(undefined)}`,
      // Half a TLS record first, so the reset comes while the client is mid-read.
      `reset-after-data.example.test=127.0.0.1:${await resettingBackend(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x40, 0x02, 0x00]))}`,
    ]),
  });
  await d.deploy('acme.example.test');
  const [via] = d.endpoints as [Endpoint];

  const cases = [
    { name: 'down.example.test', reason: 'backend-unreachable:ECONNREFUSED', outcome: 'backend-failed' },
    { name: 'reset.example.test', reason: 'backend-ECONNRESET', outcome: 'backend-failed' },
    // Linux reports a reset that follows unread data as a plain end of stream, so no reason can be expected.
    { name: 'reset-after-data.example.test', reason: undefined, outcome: 'passed' },
  ];
  for (const { name, reason, outcome } of cases) {
    const attempt = await attemptTls(via, { servername: name, ALPNProtocols: ['h2', 'http/1.1'] });
    t.equal(attempt.hung, false, `${name}: the client's connection is closed, no hang`);
    t.equal(attempt.handshake, false, `${name}: no handshake`);
    t.match(attempt.error, /^ECONNRESET: Client network socket disconnected before secure TLS connection was established$/, `${name}: the client sees a plain close`);
    const event = await waitUntil(`${name} logged`, () => d.connections.find((e) => e.sni === name));
    t.match(event, { outcome, ...(reason && { reason }) }, `${name}: logged outcome=${outcome}${reason ? ` reason=${reason}` : ''}`);
    const validation = await validateAcme(via, 'acme.example.test');
    t.same(validation.check, { ok: true }, `${name}: the next acme-tls/1 handshake succeeds`);
  }
  t.same(resets.map((chunk) => chunk[0]), [0x16, 0x16], 'each resetting backend got one connection, starting with the client\'s handshake record');
  t.equal(d.daemon.state, 'running');
});

t.test('docs/layouts.md (a): the daemon alone refuses h2; the documented dehydrated config deploys through the hook', requirePeers(t, ['bash'], true), async (t) => {
  const daemon = await startDocumentedDaemon(t, 'daemon-alone', { '[::]:443': '[::1]:0' });
  const [listener] = daemon.listeners;
  const via = { host: '::1', port: listener?.port ?? 0 };
  t.equal(listener?.address, '::1', 'listening where the command says (with 443 replaced)');

  const h2 = await attemptTls(via, { servername: 'example.org', ALPNProtocols: ['h2', 'http/1.1'] });
  t.match(h2, { handshake: false, hung: false, error: /ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL/ }, 'no backend: a plain h2 client gets a TLS alert');

  // What dehydrated does with its config: source it, then run $HOOK deploy_challenge DOMAIN TOKEN DIGEST.
  const config = path.join(shortTempDir(t), 'alpn-responder.sh');
  await writeFile(
    config,
    substitute(await readSnippet('dehydrated-config'), { '/usr/share/alpn-responder/dehydrated-hook.sh': path.join(REPO_ROOT, 'hooks', 'dehydrated-hook.sh') }),
  );
  const hook = await run(
    'bash',
    ['-c', 'set -eu; . "$1"; printf "%s\\n" "$CHALLENGETYPE"; "$HOOK" deploy_challenge example.org token "$2"', 'dehydrated', config, dehydratedDigest('example.org')],
    { env: cleanEnv({ ALPN_RESPONDER_CONTROL: daemon.controlPath }), timeoutMs: 15_000 },
  );
  t.equal(hook.code, 0, 'the hook named by the config deploys', { stderr: hook.stderr });
  t.equal(hook.stdout.split('\n')[0], 'tls-alpn-01', 'CHALLENGETYPE is tls-alpn-01');
  const validation = await validateAcme(via, 'example.org');
  t.same(validation.check, { ok: true }, 'the CA then gets a valid challenge certificate');

  const lines = await waitUntil('2 connection lines', () => {
    const found = daemon.logLines().filter((line) => logField(line, 'event') === 'connection');
    return found.length >= 2 ? found : undefined;
  });
  t.same(
    lines.map((line) => [logField(line, 'outcome'), logField(line, 'reason')]),
    [
      ['rejected', 'no-acme-alpn'],
      ['served', undefined],
    ],
    'logged: the h2 client refused, the validation served',
  );
});

t.test('docs/layouts.md (b): the documented nginx server block and daemon command keep client addresses', requirePeers(t, NGINX_PEERS, true), async (t) => {
  const web = await startDocumentedWebServer(t);
  const daemon = await startDocumentedDaemon(t, 'daemon-in-front', { '[::]:443': '[::1]:0', '127.0.0.1:8443': formatEndpoint(web.nginx) });
  const via = { host: '::1', port: daemon.listeners[0]?.port ?? 0 };

  for (const http2 of [false, true]) {
    const response = await httpsGet({ ...via, servername: 'www.example.org', path: '/index.html', http2, ca: web.ca });
    t.ok(response.body.equals(web.page), `${http2 ? 'h2' : 'HTTP/1.1'} through the daemon: the page, verified against the site's certificate`);
  }
  const log = await waitUntil('2 access log lines', async () => {
    const lines = await web.accessLog();
    return lines.length >= 2 ? lines : undefined;
  });
  t.same(
    log.map((line) => line.split(' ')[0]),
    ['::1', '::1'],
    'the combined access log shows the IPv6 client, though nginx\'s TCP peer is the daemon on 127.0.0.1',
  );
  await t.rejects(
    httpsGet({ ...web.nginx, servername: 'example.org', path: '/', ca: web.ca, timeoutMs: 5000 }),
    'as documented, a direct connection without a PROXY header fails',
  );

  const deployed = await daemon.request(`deploy example.org ${dehydratedDigest('example.org')}`);
  t.match(deployed.at(-1), /^OK /);
  t.same((await validateAcme(via, 'example.org')).check, { ok: true }, 'and the daemon answers validations on the same port');
});
