import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { sendCommands } from '../../src/control/client.js';
import { Daemon } from '../../src/daemon.js';
import { connectionProblemDetail, goAlertError, resolutionProblem } from '../../src/diagnostics/ca-texts.js';
import { MAX_ADDRESSES_PER_FAMILY, VALIDATE_CONCURRENCY, planAddresses, validate, type ValidateOptions } from '../../src/diagnostics/validate.js';
import { AlpnResponderError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import type { ListenAddress } from '../../src/net/listen-address.js';
import {
  ACME_OID,
  SAN_OID,
  acmeValue,
  certificate,
  cnName,
  dnsSan,
  extension,
  p256,
  type Keys,
} from '../challenge/cert-builder.js';
import { testDaemonOptions } from '../helpers/daemon-options.js';
import { freePort as helperFreePort, hasIPv6Loopback, requirePeers, spawnManaged, waitUntil } from '../helpers/daemon.js';
import { shortTempDir } from '../helpers/tmp.js';

const NAME = 'a.example.test';
const KEY_AUTHORIZATION = `token-1.${'A'.repeat(43)}`;
const DIGEST = createHash('sha256').update(KEY_AUTHORIZATION).digest();
const HEX = DIGEST.toString('hex');
const FORMS = {
  dehydrated: HEX.match(/../g)!.join(':'),
  hex: HEX,
  base64url: DIGEST.toString('base64url'),
  keyAuthorization: KEY_AUTHORIZATION,
};
const OTHER_DIGEST = createHash('sha256').update('another.key-authorization').digest();
const IPV6 = await hasIPv6Loopback();
const needIPv6 = IPV6 ? {} : { skip: 'no IPv6 loopback here' };

/** Listens on host:port (0: any), closes with its connections at teardown; resolves with the port. */
async function listen(t: Test, server: net.Server, host = '127.0.0.1', port = 0): Promise<number> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => resolve());
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

const pem = (der: Uint8Array): string =>
  `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;

/** A TLS server presenting `der`; `alpn` undefined negotiates no protocol at all. */
async function tlsServer(t: Test, der: Uint8Array, keys: Keys, alpn: string[] | undefined, host = '127.0.0.1', port = 0): Promise<number> {
  const server = tls.createServer({
    cert: pem(der),
    key: keys.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    ...(alpn === undefined ? {} : { ALPNProtocols: alpn }),
  });
  server.on('tlsClientError', () => {});
  return listen(t, server, host, port);
}

/** A self-signed certificate shaped like a challenge certificate, with the parts a test overrides. */
function challengeLike(options: { san?: Uint8Array; critical?: boolean; digest?: Uint8Array; extra?: Uint8Array[] } = {}) {
  const keys = p256();
  const der = certificate({
    keys,
    subject: cnName(NAME),
    issuer: cnName(NAME),
    extensions: [
      extension(SAN_OID, false, options.san ?? dnsSan(NAME)),
      extension(ACME_OID, options.critical ?? true, acmeValue(options.digest ?? DIGEST)),
      ...(options.extra ?? []),
    ],
  });
  return { der, keys };
}

/** An in-process daemon with the challenge for NAME (and any `extra` identifiers) deployed. */
async function startDaemon(t: Test, listenOn: ListenAddress[], extra: string[] = []): Promise<Daemon> {
  const daemon = await Daemon.start(testDaemonOptions(shortTempDir(t), { listen: listenOn }), silentLogger);
  t.teardown(() => daemon.close());
  const replies = await sendCommands(daemon.control.path, [NAME, ...extra].map((id) => `deploy ${id} ${FORMS.dehydrated}`));
  t.ok(replies.every((reply) => reply.final.ok), 'challenges deployed');
  return daemon;
}

function portOf(daemon: Daemon, host: string): number {
  return daemon.listeners.addresses.find((a) => a.host === host)!.port;
}

/** Resolves NAME only, to the given addresses. */
const resolveTo = (v6: string[], v4: string[]): ValidateOptions['resolve'] => async (name) => {
  if (name !== NAME) throw new Error(`unexpected lookup of ${name}`);
  return { v6, v4 };
};

t.test('a healthy daemon passes, with and without --expect in every form', async (t) => {
  const daemon = await startDaemon(t, [{ host: '127.0.0.1', port: 0 }]);
  const port = portOf(daemon, '127.0.0.1');
  const result = await validate({ name: NAME, port, resolve: resolveTo([], ['127.0.0.1']) });
  t.match(result, {
    ok: true,
    identifier: NAME,
    sni: NAME,
    attempts: [{ address: '127.0.0.1', port, family: 4, outcome: 'accepted' }],
    alpn: 'acme-tls/1',
    tlsVersion: 'TLSv1.3',
    certificate: { subject: `CN=${NAME}`, issuer: `CN=${NAME}`, san: [`DNS:${NAME}`], selfSigned: true },
  });
  t.notOk('problem' in result, 'no problem on success');
  t.notOk('hint' in result, 'no hint on a plain success');
  t.match(result.certificate!.sha256, /^[0-9a-f]{64}$/);
  t.match(result.certificate!.notAfter, /^\d{4}-\d\d-\d\dT/);
  const byHostName = await validate({
    name: NAME,
    host: 'responder.test',
    port,
    resolve: async (name) => (name === 'responder.test' ? { v6: [], v4: ['127.0.0.1'] } : { v6: [], v4: [] }),
  });
  t.match(byHostName, { ok: true, attempts: [{ address: '127.0.0.1' }] }, '--host as a name is resolved instead of NAME');
  for (const [form, expect] of Object.entries(FORMS)) {
    t.equal((await validate({ name: NAME, host: '127.0.0.1', port, expect })).ok, true, `--expect as ${form}`);
  }

  const wrong = await validate({ name: NAME, host: '127.0.0.1', port, expect: OTHER_DIGEST.toString('hex') });
  t.equal(wrong.ok, false);
  t.equal(
    wrong.problem,
    `Incorrect validation certificate for tls-alpn-01 challenge. Requested ${NAME} from 127.0.0.1:${port}. ` +
      `Received certificate with acmeValidationV1 extension value ${HEX} but expected ${OTHER_DIGEST.toString('hex')}.`,
  );
  t.match(wrong.attempts, [{ outcome: 'rejected', detail: wrong.problem }]);
  t.match(wrong.hint, /stale challenge: .*redeploy.*the CA sent a different key authorization/);
});

t.test('the daemon without a challenge for the name: unrecognized_name', async (t) => {
  const daemon = await startDaemon(t, [{ host: '127.0.0.1', port: 0 }]);
  const result = await validate({ name: 'b.example.test', host: '127.0.0.1', port: portOf(daemon, '127.0.0.1') });
  t.match(result, { ok: false, problem: '127.0.0.1: remote error: tls: unrecognized name', attempts: [{ outcome: 'handshake-failed' }] });
  t.match(result.hint, /the daemon answered but has no challenge deployed for b\.example\.test: did the hook run.*`alpn-responder list`/);
});

t.test('IP identifiers: dialled directly, SNI is the reverse name', async (t) => {
  const listenOn = [{ host: '127.0.0.1', port: 0 }, ...(IPV6 ? [{ host: '::1', port: 0 }] : [])];
  const daemon = await startDaemon(t, listenOn, ['127.0.0.1', ...(IPV6 ? ['::1'] : [])]);
  const v4 = await validate({ name: '127.0.0.1', port: portOf(daemon, '127.0.0.1'), expect: FORMS.hex });
  t.match(v4, { ok: true, identifier: '127.0.0.1', sni: '1.0.0.127.in-addr.arpa', attempts: [{ address: '127.0.0.1', family: 4 }] });
  t.same(v4.certificate?.san, ['IP Address:127.0.0.1']);
  const reverse = await validate({ name: '1.0.0.127.in-addr.arpa', port: portOf(daemon, '127.0.0.1') });
  t.match(reverse, { ok: true, identifier: '127.0.0.1' }, 'a reverse-DNS name stands for its IP');
  if (IPV6) {
    const v6 = await validate({ name: '[::1]', port: portOf(daemon, '::1'), expect: FORMS.keyAuthorization });
    t.match(v6, { ok: true, identifier: '::1', sni: `1.${'0.'.repeat(31)}ip6.arpa`, attempts: [{ address: '::1', family: 6 }] });
  }
});

t.test('an HTTPS server with a CA-issued certificate: not self-signed', async (t) => {
  const caKeys = p256();
  const keys = p256();
  const der = certificate({
    keys,
    signer: caKeys,
    issuer: cnName('Test CA'),
    subject: cnName('www.example.test'),
    extensions: [extension(SAN_OID, false, dnsSan('www.example.test', NAME))],
  });
  // It accepts acme-tls/1 among others, so the CA gets as far as the certificate.
  const port = await tlsServer(t, der, keys, ['h2', 'http/1.1', 'acme-tls/1']);
  const result = await validate({ name: NAME, host: '127.0.0.1', port });
  t.equal(
    result.problem,
    `Incorrect validation certificate for tls-alpn-01 challenge. Requested ${NAME} from 127.0.0.1:${port}. Received certificate which is not self-signed.`,
  );
  t.match(result, { ok: false, alpn: 'acme-tls/1', attempts: [{ outcome: 'rejected' }], certificate: { selfSigned: false, issuer: 'CN=Test CA' } });
  t.match(result.hint, `another TLS server answered on 127.0.0.1:${port} — the served certificate for CN=www.example.test was issued by CN=Test CA; is nginx/Apache`);
  t.match(result.hint, /alpn-responder doctor/);
});

t.test('servers that do not speak acme-tls/1', async (t) => {
  const { der, keys } = challengeLike();
  const silent = await tlsServer(t, der, keys, undefined);
  const noAlpn = await validate({ name: NAME, host: '127.0.0.1', port: silent });
  t.match(noAlpn, { ok: false, alpn: false, attempts: [{ outcome: 'rejected' }] });
  t.equal(noAlpn.problem, 'Cannot negotiate ALPN protocol "acme-tls/1" for tls-alpn-01 challenge');
  t.match(noAlpn.hint, /^the server does not speak acme-tls\/1 \(it negotiated no protocol\): a proxy in front may not pass it through.*or another TLS server answered/);

  const refusing = await tlsServer(t, der, keys, ['h2', 'http/1.1']);
  const refused = await validate({ name: NAME, host: '127.0.0.1', port: refusing });
  t.match(refused, { ok: false, problem: '127.0.0.1: remote error: tls: no application protocol', attempts: [{ outcome: 'handshake-failed' }] });
  t.match(refused.hint, /refused acme-tls\/1: another TLS server/);
});

t.test('certificates that are not alpn-responder\'s', async (t) => {
  const cases = [
    {
      what: 'a non-critical acmeIdentifier',
      cert: challengeLike({ critical: false }),
      problem: 'Received certificate with acmeValidationV1 extension that is not Critical.',
      hint: /^this is not alpn-responder's certificate: its acmeIdentifier extension is not marked critical/,
    },
    {
      what: 'a wrong digest',
      cert: challengeLike({ digest: OTHER_DIGEST }),
      problem: `Received certificate with acmeValidationV1 extension value ${OTHER_DIGEST.toString('hex')} but expected ${HEX}.`,
      hint: /^a stale challenge/,
    },
    {
      what: 'two SANs',
      cert: challengeLike({ san: dnsSan(NAME, 'b.example.test') }),
      problem: `Received certificate with unexpected identifiers ("${NAME}, b.example.test"): "wrong number of identifiers"`,
      hint: /^this is not alpn-responder's certificate: its subjectAltName must name exactly a\.example\.test and nothing else, not DNS:a\.example\.test, DNS:b\.example\.test/,
    },
  ];
  for (const c of cases) {
    const port = await tlsServer(t, c.cert.der, c.cert.keys, ['acme-tls/1']);
    const result = await validate({ name: NAME, host: '127.0.0.1', port, expect: FORMS.base64url });
    t.equal(result.problem, `Incorrect validation certificate for tls-alpn-01 challenge. Requested ${NAME} from 127.0.0.1:${port}. ${c.problem}`, c.what);
    t.match(result.hint, c.hint, `${c.what}: hint`);
    t.match(result, { ok: false, attempts: [{ outcome: 'rejected' }] });
  }

  const duplicated = challengeLike({ extra: [extension(SAN_OID, false, dnsSan(NAME))] });
  const port = await tlsServer(t, duplicated.der, duplicated.keys, ['acme-tls/1']);
  const result = await validate({ name: NAME, host: '127.0.0.1', port });
  t.match(result, { ok: false, problem: '127.0.0.1: Error getting validation data', attempts: [{ outcome: 'handshake-failed' }] });
  t.match(result.hint, /^this is not alpn-responder's certificate: the CA's TLS client \(Go\) cannot parse .*duplicate extensions/);
});

/** A port nothing listens on: the kernel picks one, and it is closed again. */
async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

t.test("connection and handshake failures, in the CA's words", async (t) => {
  const check = async (port: number, problem: string, outcome: string, hint: RegExp, timeoutMs?: number) => {
    const result = await validate({ name: NAME, host: '127.0.0.1', port, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
    t.match(result, { ok: false, attempts: [{ address: '127.0.0.1', port, family: 4, outcome, detail: problem }] });
    t.equal(result.problem, problem);
    t.match(result.hint, hint);
  };
  const httpPort = await listen(t, http.createServer((_request, response) => response.end('hello')));
  await check(httpPort, '127.0.0.1: Server only speaks HTTP, not TLS', 'handshake-failed', /^a plain-HTTP server answers on 127\.0\.0\.1:\d+/);
  // An error page without a status line (Python's http.server answers a ClientHello so): Go sees no `HTTP/`
  // record header, so Boulder has no words for it; the hint still names what answered.
  const bare = await listen(t, net.createServer((socket) => socket.once('data', () => socket.end('<!DOCTYPE HTML>\n<html><body>Error 400</body></html>\n'))));
  await check(bare, '127.0.0.1: Error getting validation data', 'handshake-failed', /^127\.0\.0\.1:\d+ answered with "<!DOCTYPE HTML>\\n<html><b…", which is not TLS: a plain-HTTP server/);

  await check(await freePort(), '127.0.0.1: Connection refused', 'connect-failed', /^nothing listens on 127\.0\.0\.1:\d+: start the daemon/);

  const silent = await listen(t, net.createServer());
  await check(
    silent,
    '127.0.0.1: Timeout after connect (your server may be slow or overloaded)',
    'handshake-failed',
    /accepted the connection but did not complete a TLS handshake within 0\.3 s/,
    300,
  );

  const resetting = await listen(t, net.createServer((socket) => socket.once('data', () => socket.resetAndDestroy())));
  await check(resetting, '127.0.0.1: Connection reset by peer', 'handshake-failed', /was reset/);

  const closing = await listen(t, net.createServer((socket) => socket.once('data', () => socket.end())));
  await check(closing, '127.0.0.1: Error getting validation data', 'handshake-failed', /closed the connection without finishing the handshake/);
});

t.test('IPv6 first: a wrong answer over IPv6 is final, the classic trap', needIPv6, async (t) => {
  // The daemon on 127.0.0.1:P only; another TLS server on [::1]:P, the same port number.
  const caKeys = p256();
  const keys = p256();
  const der = certificate({ keys, signer: caKeys, issuer: cnName('Test CA'), subject: cnName(NAME), extensions: [extension(SAN_OID, false, dnsSan(NAME))] });
  const daemon = await startDaemon(t, [{ host: '127.0.0.1', port: 0 }]);
  const port = portOf(daemon, '127.0.0.1');
  await tlsServer(t, der, keys, ['acme-tls/1'], '::1', port);

  const result = await validate({ name: NAME, port, resolve: resolveTo(['::1'], ['127.0.0.1']) });
  t.equal(
    result.problem,
    `Incorrect validation certificate for tls-alpn-01 challenge. Requested ${NAME} from [::1]:${port}. Received certificate which is not self-signed.`,
  );
  t.same(result.attempts.map((a) => [a.address, a.outcome]), [['::1', 'rejected']], 'the CA never dials IPv4 here');
  t.match(result.hint, /^the CA tries IPv6 first and does not fall back to IPv4 after a wrong answer: 127\.0\.0\.1:\d+ serves the right certificate/);
  t.match(result.hint, new RegExp(`listen on \\[::\\]:${port} too .*or remove the AAAA record for ${NAME.replaceAll('.', '\\.')}`));
});

t.test('IPv6 that cannot connect falls back to IPv4', needIPv6, async (t) => {
  const daemon = await startDaemon(t, [{ host: '127.0.0.1', port: 0 }]);
  const port = portOf(daemon, '127.0.0.1');
  const result = await validate({ name: NAME, port, resolve: resolveTo(['::1'], ['127.0.0.1']) });
  t.match(result, {
    ok: true,
    attempts: [
      { address: '::1', port, family: 6, outcome: 'connect-failed', detail: '::1: Connection refused' },
      { address: '127.0.0.1', port, family: 4, outcome: 'accepted' },
    ],
  });
  t.equal(result.attempts.length, 2);
  t.match(result.hint, /^passes over IPv4 only because \[::1\]:\d+ failed/);

  // DNS servers rotate: with 127.0.0.2 first, the CA would get a refusal. Every A is checked.
  const secondDead = await validate({ name: NAME, port, resolve: resolveTo(['::1'], ['127.0.0.1', '127.0.0.2']) });
  t.match(secondDead, {
    ok: false,
    problem: '127.0.0.2: Connection refused',
    attempts: [{ address: '::1', outcome: 'connect-failed' }, { address: '127.0.0.1', outcome: 'accepted' }, { address: '127.0.0.2', outcome: 'connect-failed' }],
  });

  const onlyV6 = await validate({ name: NAME, port, resolve: resolveTo(['::1'], []) });
  t.match(onlyV6, {
    ok: false,
    problem: `Unable to contact "${NAME}" at "::1", no IPv4 addresses to try as fallback`,
    attempts: [{ address: '::1', outcome: 'connect-failed' }],
  });
  t.match(onlyV6.hint, /^the CA tried only \[::1\]:\d+ \(there is no IPv4 address to fall back to\) and it failed: nothing listens/);
});

t.test('names that do not resolve are the CA\'s verdict, not an error', async (t) => {
  const empty = await validate({ name: NAME, resolve: resolveTo([], []) });
  t.match(empty, { ok: false, attempts: [], problem: `no valid A records found for ${NAME}; no valid AAAA records found for ${NAME}` });
  t.match(empty.hint, /has no address in DNS/);
  const thrown = await validate({
    name: NAME,
    resolve: async () => {
      throw new AlpnResponderError('ERR_NAME_NOT_RESOLVED', 'DNS problem: SERVFAIL looking up A for x; DNS problem: SERVFAIL looking up AAAA for x');
    },
  });
  t.equal(thrown.problem, 'DNS problem: SERVFAIL looking up A for x; DNS problem: SERVFAIL looking up AAAA for x');
  // The default resolver: .invalid never exists (RFC 6761); without a network the failure differs, not the shape.
  const real = await validate({ name: 'nothing.invalid' });
  t.match(real.problem, /^DNS problem: .+ looking up A for nothing\.invalid.*; DNS problem: .+ looking up AAAA for nothing\.invalid/);
});

t.test('the system resolver: /etc/hosts counts (--host localhost)', async (t) => {
  const daemon = await startDaemon(t, [{ host: '127.0.0.1', port: 0 }]);
  const port = portOf(daemon, '127.0.0.1');
  const result = await validate({ name: NAME, host: 'localhost', port, expect: FORMS.dehydrated });
  t.match(result, { ok: true, attempts: [{ address: '127.0.0.1', outcome: 'accepted' }] }, JSON.stringify(result));
});

t.test('--resolver that does not answer: the hint says so, not "create a record"', async (t) => {
  const dead = `127.0.0.1:${await helperFreePort(['127.0.0.1'], { udp: true })}`;
  const result = await validate({ name: 'a.example.test', port: 1, resolver: dead });
  t.match(result, { ok: false, attempts: [] });
  t.match(result.hint, new RegExp(`^the DNS server ${dead.replace(/\./g, '\\.')} \\(--resolver\\) did not answer, so nothing is known about a\\.example\\.test's records: check that a DNS server runs at`), result.problem ?? '');
  t.notMatch(result.hint, /create an A/);
});

const challtestsrv = requirePeers(t, ['pebble-challtestsrv']);
t.test('--resolver: every A and AAAA from a test DNS server, IPv6 first', challtestsrv, async (t) => {
  const dns = await startChallTestSrv(t);
  const daemon = await startDaemon(t, [{ host: '127.0.0.1', port: 0 }, ...(IPV6 ? [{ host: '::1', port: 0 }] : [])]);
  const port = portOf(daemon, '127.0.0.1');
  await dns.add('a', NAME, ['127.0.0.1']);
  const v4only = await validate({ name: NAME, port, resolver: dns.server, expect: FORMS.hex });
  t.match(v4only, { ok: true, attempts: [{ address: '127.0.0.1', family: 4, outcome: 'accepted' }] });

  // Nothing listens on ::1 at this port: the CA falls back to IPv4, which passes.
  await dns.add('aaaa', NAME, ['::1']);
  const fellBack = await validate({ name: NAME, port, resolver: dns.server });
  t.match(fellBack, { ok: true, attempts: [{ address: '::1', family: 6, outcome: 'connect-failed' }, { address: '127.0.0.1', outcome: 'accepted' }] });
  t.match(fellBack.hint, /^passes over IPv4 only because \[::1\]:\d+ failed/);

  // A second A record nothing answers on: the CA fails whenever DNS hands it out first.
  await dns.add('a', NAME, ['127.0.0.1', '127.0.0.2']);
  const stray = await validate({ name: NAME, port, resolver: dns.server });
  t.match(stray, { ok: false, problem: '127.0.0.2: Connection refused' });
  t.same(stray.attempts.map((a) => `${a.address} ${a.outcome}`), ['::1 connect-failed', '127.0.0.1 accepted', '127.0.0.2 connect-failed']);

  const missing = await validate({ name: 'b.example.test', port, resolver: dns.server });
  t.equal(missing.problem, 'no valid A records found for b.example.test; no valid AAAA records found for b.example.test');
  t.match(missing.hint, `b.example.test has no address in DNS (asked with the DNS server ${dns.server} (--resolver); the CA asks with its own): create an A`);
  await t.rejects(validate({ name: NAME, resolver: 'localhost:53' }), { code: 'ERR_BAD_RESOLVER' });
});

/** pebble-challtestsrv as a DNS server on a free port, answering only the records added through its API. */
async function startChallTestSrv(t: Test) {
  const dnsPort = await helperFreePort(['127.0.0.1'], { udp: true });
  const managementPort = await helperFreePort();
  const srv = spawnManaged('pebble-challtestsrv', 'pebble-challtestsrv', [
    '-defaultIPv4', '', '-defaultIPv6', '',
    '-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '',
    '-management', `127.0.0.1:${managementPort}`,
  ]);
  t.teardown(() => srv.stop());
  const post = (path: string, body: unknown) =>
    new Promise<number>((resolve, reject) => {
      const request = http.request({ host: '127.0.0.1', port: managementPort, path, method: 'POST' }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      });
      request.on('error', reject);
      request.end(JSON.stringify(body));
    });
  await waitUntil('pebble-challtestsrv management API', async () => (srv.exitState() !== undefined ? false : (await post('/clear-a', { host: 'probe.' }).catch(() => 0)) === 200 || undefined));
  return {
    server: `127.0.0.1:${dnsPort}`,
    async add(type: 'a' | 'aaaa', host: string, addresses: string[]) {
      t.equal(await post(`/clear-${type}`, { host: `${host}.` }), 200);
      t.equal(await post(`/add-${type}`, { host: `${host}.`, addresses }), 200);
    },
  };
}

t.test('bad arguments throw, with codes', async (t) => {
  await t.rejects(validate({ name: 'exa_mple.test' }), { code: 'ERR_BAD_IDENTIFIER' });
  await t.rejects(validate({ name: '*.example.test' }), { code: 'ERR_WILDCARD_IDENTIFIER' });
  await t.rejects(validate({ name: NAME, expect: 'nope' }), { code: 'ERR_BAD_AUTHORIZATION' });
  await t.rejects(validate({ name: NAME, port: 0 }), { code: 'ERR_BAD_PORT' });
  await t.rejects(validate({ name: NAME, port: 65536 }), { code: 'ERR_BAD_PORT' });
  await t.rejects(validate({ name: NAME, timeoutMs: 0 }), { code: 'ERR_BAD_TIMEOUT' });
  await t.rejects(validate({ name: NAME, host: 'nowhere.test', resolve: async () => ({ v6: [], v4: [] }) }), {
    code: 'ERR_NAME_NOT_RESOLVED',
    message: /^--host "nowhere\.test" does not resolve: no valid A records/,
  });
});

t.test("Boulder's texts for DNS and TLS failures", async (t) => {
  t.equal(
    resolutionProblem('x.test', 'rcode:NXDOMAIN', 'rcode:NXDOMAIN'),
    'DNS problem: NXDOMAIN looking up A for x.test - check that a DNS record exists for this domain; ' +
      'DNS problem: NXDOMAIN looking up AAAA for x.test - check that a DNS record exists for this domain',
  );
  t.equal(
    resolutionProblem('x.test', 'timeout', 'rcode:SERVFAIL'),
    "DNS problem: query timed out looking up A for x.test; DNS problem: SERVFAIL looking up AAAA for x.test - the domain's nameservers may be malfunctioning",
  );
  t.equal(resolutionProblem('x.test', 'network', 'rcode:REFUSED'), 'DNS problem: networking error looking up A for x.test; DNS problem: REFUSED looking up AAAA for x.test');
  t.equal(goAlertError(112), 'tls: unrecognized name');
  t.equal(goAlertError(200), 'tls: alert(200)');
  t.equal(connectionProblemDetail({ phase: 'handshake', reason: 'alert', alert: 0, message: '' }, '192.0.2.1'), '192.0.2.1: Error getting validation data', 'close_notify is EOF to Go');
  t.equal(
    connectionProblemDetail({ phase: 'connect', reason: 'timeout', message: '' }, '2001:db8::1'),
    '2001:db8::1: Timeout during connect (likely firewall problem)',
  );
  t.equal(connectionProblemDetail({ phase: 'connect', reason: 'network-unreachable', message: '' }, '2001:db8::1'), '2001:db8::1: Network unreachable');
});

t.test('a DNS answer with 2,000 A records: the first 16 are dialled, 4 at a time; the rest reported as not checked', async (t) => {
  const many = Array.from({ length: 2000 }, (_, i) => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  const plan = planAddresses({ v6: ['::1', '::1', '::2'], v4: many });
  t.same(plan.v6, ['::1', '::2'], 'duplicates dialled once');
  t.same(plan.v4, many.slice(0, MAX_ADDRESSES_PER_FAMILY));
  t.same(plan.unchecked, { v6: 0, v4: 2000 - MAX_ADDRESSES_PER_FAMILY });

  // A real run: every address is a loopback one, at a port where this test holds each connection silent until the
  // client gives up (its time limit). The client's sockets are watched through the diagnostics channel every
  // net.connect() socket is announced on.
  const seen = new Set<string>();
  const counter = net.createServer((socket) => {
    seen.add(socket.localAddress ?? '?');
    socket.on('error', () => undefined);
    socket.resume();
  });
  await new Promise<void>((resolve) => counter.listen(0, '0.0.0.0', resolve));
  t.teardown(() => counter.close());
  const port = (counter.address() as net.AddressInfo).port;
  const connected: net.Socket[] = [];
  let most = 0;
  const onSocket = (message: unknown): void => {
    const { socket } = message as { socket: net.Socket };
    socket.once('connect', () => {
      if (socket.remotePort !== port) return;
      connected.push(socket);
      // In flight: connected and not yet destroyed by the probe (its 'close' may come a little later).
      most = Math.max(most, connected.filter((s) => !s.destroyed).length);
    });
  };
  diagnosticsChannel.subscribe('net.client.socket', onSocket);
  t.teardown(() => diagnosticsChannel.unsubscribe('net.client.socket', onSocket));
  const result = await validate({ name: NAME, port, timeoutMs: 300, resolve: async () => ({ v6: [], v4: many }) });
  t.equal(result.ok, false);
  t.equal(result.attempts.length, MAX_ADDRESSES_PER_FAMILY, 'only the first 16 addresses are dialled');
  t.same(result.attempts.map((a) => a.address), many.slice(0, MAX_ADDRESSES_PER_FAMILY));
  t.equal(seen.size, MAX_ADDRESSES_PER_FAMILY, 'the server saw 16 distinct addresses, not 2,000');
  t.same(result.unchecked, { v6: 0, v4: 2000 - MAX_ADDRESSES_PER_FAMILY });
  t.ok(most <= VALIDATE_CONCURRENCY, `at most ${VALIDATE_CONCURRENCY} connections at once (${most})`);
});
