import net from 'node:net';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import { ALERT, encodeFatalAlert } from '../../src/tls/alert.js';
import { parseClientHello } from '../../src/tls/client-hello.js';
import { requirePeers, run } from '../helpers/daemon.js';
import { HANDSHAKE_FAILURE_CODE } from '../helpers/tls-codes.js';

/** What Node (OpenSSL) calls each alert when a server sends it. */
const NODE_CODES: Record<keyof typeof ALERT, string> = {
  handshake_failure: HANDSHAKE_FAILURE_CODE,
  internal_error: 'ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR',
  unrecognized_name: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME',
  no_application_protocol: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL',
  protocol_version: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
  decode_error: 'ERR_SSL_TLSV1_ALERT_DECODE_ERROR',
};

/** How `openssl s_client` words each alert (OpenSSL's SSL_alert_desc_string_long). */
const OPENSSL_TEXT: Record<keyof typeof ALERT, RegExp> = {
  handshake_failure: /alert handshake failure/,
  internal_error: /alert internal error/,
  unrecognized_name: /unrecognized name/,
  no_application_protocol: /no application protocol/,
  protocol_version: /alert protocol version/,
  decode_error: /alert decode error/,
};

const names = Object.keys(ALERT) as (keyof typeof ALERT)[];

/**
 * A raw TCP server that, like the daemon, reads one whole ClientHello without any TLS library and answers with
 * `encodeFatalAlert(description)` before closing.
 */
async function alertServer(t: Test, description: number): Promise<number> {
  const server = net.createServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (parseClientHello(buffer).status === 'incomplete') return;
      socket.end(encodeFatalAlert(description));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

/** Connects with Node's TLS client and resolves with the error code it reports. */
function nodeClientError(port: number, options: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'alert.example', rejectUnauthorized: false, ...options });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    socket.on('secureConnect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.on('close', () => resolve('closed without error'));
  });
}

t.test('encodes one plaintext fatal alert record', async (t) => {
  t.same([...encodeFatalAlert(ALERT.no_application_protocol)], [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 120]);
  for (const name of names) {
    const bytes = encodeFatalAlert(ALERT[name]);
    t.ok(bytes instanceof Uint8Array, name);
    t.same([...bytes], [21, 3, 3, 0, 2, 2, ALERT[name]], `${name}: alert(21), 0x0303, length 2, fatal(2), description`);
  }
  t.same([...encodeFatalAlert(0)], [21, 3, 3, 0, 2, 2, 0], 'close_notify is a byte like any other');
  t.same([...encodeFatalAlert(255)], [21, 3, 3, 0, 2, 2, 255]);
  t.not(encodeFatalAlert(40), encodeFatalAlert(40), 'a fresh array each call: callers may hand it to a socket');
});

t.test('a description outside one byte is a programming error', async (t) => {
  for (const bad of [-1, 256, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => encodeFatalAlert(bad), RangeError, String(bad));
  }
});

t.test('Node\'s TLS client reports each alert by name', async (t) => {
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    for (const name of names) {
      const port = await alertServer(t, ALERT[name]);
      t.equal(await nodeClientError(port, { maxVersion, ALPNProtocols: ['acme-tls/1'] }), NODE_CODES[name], `${maxVersion} ${name}`);
    }
  }
});

t.test('openssl s_client reports each alert by name and number', async (t) => {
  const options = requirePeers(t, ['openssl']);
  await t.test('openssl', options, async (t) => {
    for (const name of names) {
      const port = await alertServer(t, ALERT[name]);
      const result = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'alert.example', '-alpn', 'acme-tls/1'], {
        timeoutMs: 20_000,
      });
      const output = result.stdout + result.stderr;
      t.not(result.code, 0, `${name}: handshake failed`);
      t.match(output, new RegExp(`alert number ${ALERT[name]}\\b`), `${name}: alert number`);
      t.match(output, OPENSSL_TEXT[name], `${name}: alert text`);
    }
  });
});
