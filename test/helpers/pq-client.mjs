// A CA-like TLS-ALPN-01 client for the Node.js that runs it (the post-quantum test runs it with Node 24, whose
// OpenSSL 3.5 offers an X25519MLKEM768 key share by default, as Go >= 1.24's client in Let's Encrypt's validator
// does). It writes its ClientHello in two TCP segments, split in the middle, the second only once the first has
// been handed to the kernel with Nagle off, so the responder must read a hello that arrives in pieces.
// Usage: node pq-client.mjs HOST PORT SERVERNAME. Prints one JSON line: the hello sent, the segment sizes, the
// negotiated ALPN, protocol and key exchange group, and the served certificate (DER, base64), or {error}.
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';

const [host = '127.0.0.1', port = '0', servername = 'localhost'] = process.argv.slice(2);
const raw = net.connect({ host, port: Number(port), noDelay: true });
const segments = [];
let hello;

// tls.connect writes through this stream, so the first chunk it writes (the ClientHello record) can be cut.
const wire = new Duplex({
  write(chunk, _encoding, callback) {
    if (hello !== undefined) return raw.write(chunk, callback);
    hello = Buffer.from(chunk);
    const cut = Math.floor(chunk.length / 2);
    segments.push(cut, chunk.length - cut);
    raw.write(chunk.subarray(0, cut), (error) => (error ? callback(error) : raw.write(chunk.subarray(cut), callback)));
  },
  read() {},
});
raw.on('data', (data) => wire.push(data));
raw.on('end', () => wire.push(null));
raw.on('error', (error) => wire.destroy(error));

// One line, once: after a handshake, when the connection has closed (the client's Finished reached the server, as
// with the CA's clean close); after an error, at once.
let printed = false;
const print = (result) => {
  if (printed) return;
  printed = true;
  process.stdout.write(`${JSON.stringify({ node: process.versions.node, openssl: process.versions.openssl, ...result })}\n`);
};
let served;
const socket = tls.connect(
  { socket: wire, servername, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false, minVersion: 'TLSv1.2' },
  () => {
    served = {
      hello: hello?.toString('base64'),
      segments,
      alpn: socket.alpnProtocol,
      protocol: socket.getProtocol(),
      group: socket.getEphemeralKeyInfo()?.name ?? null,
      der: socket.getPeerCertificate().raw.toString('base64'),
    };
    socket.end();
  },
);
socket.on('error', (error) => {
  if (served === undefined) print({ hello: hello?.toString('base64'), segments, error: error.code ?? error.message });
  raw.destroy();
});
socket.on('close', () => {
  if (served !== undefined) print(served);
  raw.destroy();
});
raw.on('close', () => {
  if (served !== undefined) print(served);
});
