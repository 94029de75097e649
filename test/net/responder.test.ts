import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { createChallengeCertificate } from '../../src/challenge/certificate.js';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { challengeContext } from '../../src/net/context-table.js';
import { serveChallenge } from '../../src/net/responder.js';

t.test('a served connection closes as soon as the client does, even if the client sent data first', async (t) => {
  const certificate = await createChallengeCertificate(parseIdentifier('a.example.test'), new Uint8Array(32));
  const context = challengeContext(certificate);
  const closed: Promise<void>[] = [];
  const outcomes: Promise<unknown>[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
    // A long timeout: the connection must end because the client left, not because the timer fired.
    socket.once('data', (hello) => {
      socket.pause();
      outcomes.push(serveChallenge(socket, hello, context, 60_000));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    // Like `echo | openssl s_client -alpn acme-tls/1`: after the handshake, a byte of data, then the client closes.
    await new Promise<void>((resolve, reject) => {
      const client = tls.connect({ port, host: '127.0.0.1', servername: 'a.example.test', ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false, maxVersion }, () => {
        client.end('\n');
      });
      client.on('error', reject);
      client.on('close', () => resolve());
      client.resume();
    });
  }
  const started = Date.now();
  await Promise.all(closed);
  t.ok(Date.now() - started < 5000, 'both server sockets closed long before the handshake timeout');
  t.same(await Promise.all(outcomes), [
    { ok: true, protocol: 'TLSv1.2' },
    { ok: true, protocol: 'TLSv1.3' },
  ]);
});

t.test('a client that drops the connection right after its handshake does not hold it until the time limit', async (t) => {
  const certificate = await createChallengeCertificate(parseIdentifier('a.example.test'), new Uint8Array(32));
  const context = challengeContext(certificate);
  const closed: Promise<void>[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    closed.push(new Promise((resolve) => socket.once('close', () => resolve())));
    socket.once('data', (hello) => {
      socket.pause();
      void serveChallenge(socket, hello, context, 60_000);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  for (let i = 0; i < 20; i++) {
    // TLS 1.3: the client's Finished may still be unsent when it destroys the socket, so the server sees the
    // connection end in the middle of its handshake.
    await new Promise<void>((resolve) => {
      const client = tls.connect({ port, host: '127.0.0.1', servername: 'a.example.test', ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }, () => client.destroy());
      client.on('error', () => undefined);
      client.on('close', () => resolve());
    });
  }
  const started = Date.now();
  await Promise.all(closed);
  t.ok(Date.now() - started < 5000, 'every server socket closed long before the handshake time limit');
});
