import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { sendCommands } from '../src/control/client.js';
import { Daemon, type DaemonOptions } from '../src/daemon.js';
import { wireConnectionSettings } from '../src/front.js';
import { testDaemonOptions } from './helpers/daemon-options.js';
import { caVerdict, dehydratedDigestOf, digestOf, handshake, validateAsCa } from './helpers/ca-check.js';
import { startInProcessDaemon } from './helpers/in-process-daemon.js';
import { shortTempDir } from './helpers/tmp.js';
import { HANDSHAKE_FAILURE_CODE } from './helpers/tls-codes.js';

/** {@link startInProcessDaemon} with every log event kept as `event {fields}`. */
async function startDaemon(t: Test, overrides: Partial<DaemonOptions> = {}) {
  const events: string[] = [];
  const { daemon } = await startInProcessDaemon(t, overrides, { log: (_level, event, fields) => events.push(`${event} ${JSON.stringify(fields ?? {})}`) });
  return { daemon, events, control: daemon.control.path };
}

async function command(control: string, line: string): Promise<string> {
  const [reply] = await sendCommands(control, [line]);
  if (!reply) throw new Error('no reply');
  return [...reply.lines, reply.final.ok ? `OK ${reply.final.text}`.trim() : `ERR ${reply.final.shortCode} ${reply.final.message}`].join('\n');
}

t.test('serves deployed challenges by SNI over IPv4 and IPv6, TLS 1.2 and 1.3', async (t) => {
  const { daemon, control, events } = await startDaemon(t);
  const cases = [
    { input: 'A.Example.Test.', sni: 'a.example.test', id: 'a.example.test' },
    { input: '1.0.0.127.in-addr.arpa', sni: '1.0.0.127.in-addr.arpa', id: '127.0.0.1' },
    { input: '::1', sni: `1.${'0.'.repeat(31)}ip6.arpa`, id: '::1' },
  ];
  for (const c of cases) {
    t.match(await command(control, `deploy ${c.input} ${dehydratedDigestOf(c.id)}`), new RegExp(`^OK deployed ${c.id.replace(/\./g, '\\.')} expires \\d{4}-`));
  }
  for (const listener of daemon.listeners.addresses) {
    for (const c of cases) {
      for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
        const result = await validateAsCa(listener, c.id, { maxVersion });
        t.equal(result.ok, true, `${c.sni} via ${listener.host} ${maxVersion}`);
        t.equal(result.ok && result.alpn, 'acme-tls/1');
        t.equal(result.ok && result.protocol, maxVersion);
        t.same(result.ok && result.check, { ok: true }, `certificate for ${c.sni} passes the CA's checks`);
      }
    }
  }
  const list = await command(control, 'list');
  t.match(list, /^a\.example\.test [0-9a-f]{64} \S+Z 4$/m, 'list shows 4 handshakes served for a.example.test');
  t.match(list, /OK 3$/);
  t.match(await command(control, 'status'), /^OK version=\S+ uptime=\d+s listeners=127\.0\.0\.1:\d+,\[::1\]:\d+ workers=1 challenges=3 served=12 passed=0 rejected=0$/);
  t.ok(events.some((e) => e.startsWith('connection ') && e.includes('"outcome":"served"') && e.includes('"sni":"a.example.test"')));
  t.ok(events.some((e) => e.startsWith('deploy ')));
});

t.test('refuses anything that is not an acme-tls/1 hello for a deployed name', async (t) => {
  const { daemon, control, events } = await startDaemon(t);
  await command(control, `deploy a.example.test ${dehydratedDigestOf('a')}`);
  const listener = daemon.listeners.addresses[0]!;
  const { host, port } = listener;
  const h2 = await handshake(listener, { servername: 'a.example.test', ALPNProtocols: ['h2', 'http/1.1'] });
  t.same(h2, { ok: false, error: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL' }, 'h2 gets no_application_protocol');
  const none = await handshake(listener, { servername: 'a.example.test' });
  t.same(none, { ok: false, error: HANDSHAKE_FAILURE_CODE }, 'no ALPN at all never gets the certificate');
  const unknown = await handshake(listener, { servername: 'b.example.test', ALPNProtocols: ['acme-tls/1'] });
  t.same(unknown, { ok: false, error: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' });
  const noSni = await handshake(listener, { ALPNProtocols: ['acme-tls/1'] });
  t.same(noSni, { ok: false, error: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' });
  const http = await new Promise<string>((resolve) => {
    const socket = net.connect(port, host, () => socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    let text = '';
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('close', () => resolve(text));
  });
  t.equal(http, '', 'plain HTTP is closed without a byte');
  t.match(await command(control, 'status'), / served=0 passed=0 rejected=5$/);
  for (const reason of ['no-acme-alpn', 'unknown-name', 'no-sni', 'invalid-hello']) {
    t.ok(events.some((e) => e.startsWith('connection ') && e.includes(`"reason":"${reason}`)), `logged ${reason}`);
  }
});

t.test('clean stops serving; redeploy replaces; errors are ERR lines', async (t) => {
  const { daemon, control } = await startDaemon(t);
  const listener = daemon.listeners.addresses[0]!;
  await command(control, `deploy a.example.test ${dehydratedDigestOf('x')}`);
  await command(control, `deploy a.example.test ${dehydratedDigestOf('y')}`);
  t.same(await caVerdict(listener, 'a.example.test', digestOf('y')), { ok: true });
  t.equal(await command(control, 'clean A.EXAMPLE.TEST'), 'OK cleaned a.example.test');
  t.equal(await command(control, 'clean a.example.test'), 'OK not-deployed a.example.test');
  t.same(await handshake(listener, { servername: 'a.example.test', ALPNProtocols: ['acme-tls/1'] }), { ok: false, error: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' });
  t.match(await command(control, 'deploy exa_mple.org ab'), /^ERR bad-identifier /);
  t.match(await command(control, 'deploy *.example.org ab'), /^ERR wildcard-identifier /);
  t.match(await command(control, 'deploy example.org nothex'), /^ERR bad-authorization /);
  t.match(await command(control, 'nonsense'), /^ERR unknown-command /);
  t.match(await command(control, 'help'), /^deploy <identifier>[^]*\nOK$/);
});

t.test('ualpn-compatible auth/unauth answer a bare OK', async (t) => {
  const { daemon, control } = await startDaemon(t);
  const b64 = digestOf('u').toString('base64url');
  t.equal(await command(control, `auth u.example.test ${b64}`), 'OK');
  t.same(await caVerdict(daemon.listeners.addresses[0]!, 'u.example.test', digestOf('u')), { ok: true });
  t.equal(await command(control, 'unauth u.example.test'), 'OK');
  t.match(await command(control, 'auth bad_name x'), /^ERR /);
});

t.test('openssl s_client negotiates acme-tls/1 and sees the challenge certificate', async (t) => {
  const { daemon, control } = await startDaemon(t);
  await command(control, `deploy o.example.test ${dehydratedDigestOf('o')}`);
  const { port } = daemon.listeners.addresses[0]!;
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'o.example.test', '-alpn', 'acme-tls/1', '-showcerts'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    t.teardown(() => child.kill());
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.on('error', reject);
    child.on('close', () => resolve(text));
    child.stdin.end();
  });
  t.match(output, /ALPN protocol: acme-tls\/1/);
  t.match(output, /subject=CN\s*=\s*o\.example\.test/);
});

t.test('start-up failures close what was opened', async (t) => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => blocker.on('listening', resolve));
  t.teardown(() => blocker.close());
  const taken = (blocker.address() as net.AddressInfo).port;
  const dir = shortTempDir(t);
  await t.rejects(
    Daemon.start(
      testDaemonOptions(dir, { listen: [{ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: taken }] }),
      { log() {} },
    ),
    { code: 'ERR_LISTEN', message: /EADDRINUSE/ },
  );
  const { daemon } = await startDaemon(t);
  await t.rejects(startDaemon(t, { controlPath: daemon.control.path }), { code: 'ERR_CONTROL_IN_USE' });
  t.equal(daemon.state, 'running');
  await Promise.all([daemon.close(), daemon.close()]);
  t.equal(daemon.state, 'closed');
});

t.test('a real client whose bytes arrive one per TCP segment is still served', async (t) => {
  const { daemon, control } = await startDaemon(t);
  await command(control, `deploy slow.example.test ${dehydratedDigestOf('slow')}`);
  const target = daemon.listeners.addresses[0]!;
  // A relay that forwards the client's bytes to the daemon one byte per write.
  const relay = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    upstream.setNoDelay(true);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      client.pause();
      void (async () => {
        for (const byte of chunk) await new Promise<void>((resolve) => upstream.write(Buffer.of(byte), () => resolve()));
        client.resume();
      })();
    });
  });
  t.teardown(() => relay.close());
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const result = await validateAsCa({ host: '127.0.0.1', port: (relay.address() as net.AddressInfo).port }, 'slow.example.test', { digest: digestOf('slow') });
  t.equal(result.ok && result.alpn, 'acme-tls/1');
  t.same(result.ok && result.check, { ok: true });
});

t.test('holds 1,000 challenges at once and serves each by its own name', async (t) => {
  const { daemon, control } = await startDaemon(t, { maxChallenges: 1000 });
  const names = Array.from({ length: 1000 }, (_, i) => `n${i}.bulk.example.test`);
  const replies = await sendCommands(control, names.map((name) => `deploy ${name} ${dehydratedDigestOf(name)}`), 120_000);
  t.equal(replies.filter((r) => r.final.ok).length, 1000, 'all 1,000 deploys answered OK');
  t.match(await command(control, 'deploy one-too-many.example.test ' + dehydratedDigestOf('x')), /^ERR too-many-challenges /);
  for (const name of [names[0]!, names[499]!, names[999]!]) {
    t.same(await caVerdict(daemon.listeners.addresses[0]!, name), { ok: true }, name);
  }
  t.match(await command(control, 'list'), /\nOK 1000$/);
});

t.test('both connection limits are shared out among workers, so each means the same for the whole daemon', async (t) => {
  const options = testDaemonOptions('/nonexistent', { maxConnections: 4096, maxConnectionsPerSource: 64 });
  const one = wireConnectionSettings(options);
  t.equal(one.maxConnections, 4096);
  t.equal(one.maxConnectionsPerSource, 64, 'one process: the limit as given');
  const four = wireConnectionSettings({ ...options, workers: 4 });
  t.equal(four.maxConnections, 1024);
  t.equal(four.maxConnectionsPerSource, 16, 'four workers: a quarter each (not 4 × 64 in effect)');
  const three = wireConnectionSettings({ ...options, workers: 3, maxConnectionsPerSource: 10 });
  t.equal(three.maxConnectionsPerSource, 4, 'rounded up: never 0, at most workers − 1 above the limit');
});
