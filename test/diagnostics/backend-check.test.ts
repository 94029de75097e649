/**
 * The doctor's backend check against real listeners: a TLS server, a dead port, a plain-HTTP server, a server that
 * wants a PROXY header first, and a TLS server that gets one it did not ask for.
 */
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import { checkBackends } from '../../src/diagnostics/backend-check.js';
import { runDoctor } from '../../src/diagnostics/doctor.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { certificate, cnName, p256 } from '../challenge/cert-builder.js';
import { testDaemonOptions } from '../helpers/daemon-options.js';
import { shortTempDir } from '../helpers/tmp.js';

const TIMEOUT_MS = 5000;

async function listen(t: Test, server: net.Server): Promise<number> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve()))));
  return (server.address() as net.AddressInfo).port;
}

function tlsOptions(): tls.TlsOptions {
  const keys = p256();
  const der = certificate({ keys, subject: cnName('www.example.org'), issuer: cnName('www.example.org'), extensions: [] });
  const cert = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
  return { cert, key: keys.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string };
}

async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test('a TLS backend passes; a dead one is a warning that names it', async (t) => {
  const server = tls.createServer(tlsOptions());
  server.on('tlsClientError', () => {});
  const tlsPort = await listen(t, server);
  const dead = await deadPort();
  const checks = await checkBackends({ backends: [`127.0.0.1:${tlsPort}`, `shop.example.org=127.0.0.1:${dead}`], timeoutMs: TIMEOUT_MS });
  t.match(checks, [
    { status: 'pass', title: `backend 127.0.0.1:${tlsPort} accepts TLS (TLSv1.3)` },
    {
      status: 'warn',
      title: `backend shop.example.org=127.0.0.1:${dead} is unreachable (ECONNREFUSED): ordinary HTTPS through the daemon fails, challenges do not`,
      remedy: new RegExp(`Start the web server on 127\\.0\\.0\\.1:${dead}`),
    },
  ]);
});

t.test('what the backend speaks must match --backend-proxy-protocol', async (t) => {
  const plain = await listen(t, http.createServer((_q, s) => s.end('hi')));
  t.match(await checkBackends({ backends: [`127.0.0.1:${plain}`], timeoutMs: TIMEOUT_MS }), [{ status: 'warn', title: /does not speak TLS: it answered with something that is not TLS \(plain HTTP\?\)/ }]);

  // A TLS server behind a PROXY v1 reader (as nginx `listen … ssl proxy_protocol` is): without the header it hangs up.
  const tlsServer = tls.createServer(tlsOptions());
  tlsServer.on('tlsClientError', () => {});
  const wantsProxy = await listen(
    t,
    net.createServer((socket) => {
      socket.once('data', (chunk: Buffer) => {
        const end = chunk.indexOf('\r\n');
        if (!chunk.subarray(0, 6).equals(Buffer.from('PROXY ')) || end < 0) return void socket.destroy();
        socket.pause();
        socket.unshift(chunk.subarray(end + 2));
        tlsServer.emit('connection', socket);
      });
    }),
  );
  const without = await checkBackends({ backends: [`127.0.0.1:${wantsProxy}`], timeoutMs: TIMEOUT_MS });
  t.match(without, [{ status: 'warn', title: /does not speak TLS: it (closed the connection|reset the connection)/, remedy: /--backend-proxy-protocol v1 or v2/ }]);
  const withHeader = await checkBackends({ backends: [`127.0.0.1:${wantsProxy}`], proxyProtocol: 'v1', timeoutMs: TIMEOUT_MS });
  t.match(withHeader, [{ status: 'pass', title: /accepts a PROXY v1 header, then TLS/ }]);

  const plainTls = tls.createServer(tlsOptions());
  plainTls.on('tlsClientError', () => {});
  const noProxy = await listen(t, plainTls);
  t.match(await checkBackends({ backends: [`127.0.0.1:${noProxy}`], proxyProtocol: 'v2', timeoutMs: TIMEOUT_MS }), [
    { status: 'warn', title: /does not speak a PROXY v2 header, then TLS/, remedy: /enable it on the backend/ },
  ]);
});

t.test('doctor lists the backends; a dead one is a warning, never an all-clear line about it', async (t) => {
  const dir = shortTempDir(t);
  const daemon = await Daemon.start(testDaemonOptions(dir, { listen: [{ host: '127.0.0.1', port: 0 }] }), silentLogger);
  t.teardown(() => daemon.close());
  const dead = await deadPort();
  const checks = await runDoctor({ controlPath: daemon.control.path, controlPathIsDefault: false, quick: false, backends: [`127.0.0.1:${dead}`], dehydratedConfig: dir });
  t.match(checks.filter((c) => c.id === 'backend'), [{ status: 'warn', title: new RegExp(`backend 127\\.0\\.0\\.1:${dead} is unreachable`) }]);
});
