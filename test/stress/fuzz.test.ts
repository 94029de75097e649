/**
 * Property-based fuzzing of every parser that sees untrusted input, then of the running daemon's sockets.
 *
 * Byte parsers (ClientHello, PROXY header) must never throw; text parsers (control line, identifier, authorization)
 * may throw only our AlpnResponderError; every result must be well-formed. Inputs are random and mutated
 * (the captured hellos in test/fixtures/client-hello/*.bin, generated PROXY headers, valid command lines).
 * `FUZZ_RUNS` sets the total number of cases (default 100,000; `npm run fuzz` runs 2,000,000).
 */
import t from 'tap';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import { parseAuthorization, DIGEST_LENGTH } from '../../src/challenge/authorization.js';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { checkChallengeCertificate } from '../../src/diagnostics/verify.js';
import { parseCommand } from '../../src/control/protocol.js';
import { Daemon } from '../../src/daemon.js';
import { AlpnResponderError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { formatProxyHeaderV1, formatProxyHeaderV2, parseProxyHeader, type ProxyAddress } from '../../src/net/proxy-header.js';
import type { ParseResult } from '../../src/parse-result.js';
import { clientHelloBytesWanted, parseClientHello, type ClientHello } from '../../src/tls/client-hello.js';
import { testDaemonOptions } from '../helpers/daemon-options.js';
import { shortTempDir } from '../helpers/tmp.js';

const TOTAL_RUNS = Number(process.env.FUZZ_RUNS ?? 100_000);
/** Share of the cases each property gets (sums to 1). */
const runs = (share: number): number => Math.max(100, Math.round(TOTAL_RUNS * share));
let casesRun = 0;
function check<Ts extends unknown[]>(property: fc.IProperty<Ts>, numRuns: number): void {
  casesRun += numRuns;
  // fast-check reports the shrunk counterexample and its seed in the thrown error.
  fc.assert(property, { numRuns });
}

const FIXTURES = new URL('../fixtures/client-hello/', import.meta.url);
const hellos = readdirSync(FIXTURES)
  .filter((file) => file.endsWith('.bin'))
  .map((file) => new Uint8Array(readFileSync(new URL(file, FIXTURES))));

/** A byte string derived from `seeds` by a few random edits: overwrite, insert, delete, truncate, length smash. */
function mutated(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    // Length fields are 1-3 bytes: 0x00 and 0xff pairs hit their extremes.
    fc.record({ kind: fc.constant('smash' as const), at: fc.nat(), byte: fc.constantFrom(0x00, 0xff, 0x7f, 0x80) }),
  );
  return fc.tuple(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 6 })).map(([seed, edits]) => {
    let bytes = Array.from(seed);
    for (const e of edits) {
      const at = bytes.length === 0 ? 0 : e.at % (bytes.length + 1);
      if (e.kind === 'set' || e.kind === 'smash') bytes[Math.min(at, bytes.length - 1)] = e.byte;
      else if (e.kind === 'insert') bytes.splice(at, 0, ...e.bytes);
      else if (e.kind === 'delete') bytes.splice(at, e.count);
      else bytes = bytes.slice(0, at);
    }
    return Uint8Array.from(bytes.filter((b) => b !== undefined));
  });
}

function assertResultShape<T>(result: ParseResult<T>, inputLength: number, value: (v: T) => void): void {
  if (result.status === 'complete') {
    if (!(Number.isInteger(result.length) && result.length > 0 && result.length <= inputLength)) throw new Error(`bad length ${result.length}`);
    value(result.value);
  } else if (result.status === 'invalid') {
    if (typeof result.reason !== 'string' || result.reason === '') throw new Error('invalid without a reason');
  } else if (result.status !== 'incomplete') {
    throw new Error(`unknown status ${String((result as { status: unknown }).status)}`);
  }
}

function assertHello(hello: ClientHello): void {
  if (hello.serverName !== undefined && (typeof hello.serverName !== 'string' || hello.serverName !== hello.serverName.toLowerCase())) {
    throw new Error(`bad serverName ${String(hello.serverName)}`);
  }
  if (!Array.isArray(hello.alpn) || hello.alpn.some((name) => typeof name !== 'string')) throw new Error('bad alpn');
  if (!hello.hasAlpnExtension && hello.alpn.length > 0) throw new Error('alpn without the extension');
  if (!Number.isInteger(hello.legacyVersion) || !hello.supportedVersions.every(Number.isInteger)) throw new Error('bad versions');
}

function parseHello(bytes: Uint8Array): void {
  const result = parseClientHello(bytes);
  assertResultShape(result, bytes.length, assertHello);
  const wanted = clientHelloBytesWanted(bytes);
  if (!Number.isFinite(wanted) || wanted < 0) throw new Error(`bad bytes wanted ${wanted}`);
}

function parseProxy(bytes: Uint8Array): void {
  assertResultShape(parseProxyHeader(bytes), bytes.length, (header) => {
    if (header.version !== 1 && header.version !== 2) throw new Error('bad version');
    const a = header.address;
    if (a !== undefined && !(net.isIP(a.sourceAddress) && net.isIP(a.destinationAddress) && a.sourcePort <= 65535 && a.destinationPort <= 65535)) {
      throw new Error(`bad address ${JSON.stringify(a)}`);
    }
  });
}

/** Calls `parse`; anything thrown other than AlpnResponderError fails the property. */
function onlyOurErrors<T>(parse: () => T, valid: (value: T) => void): void {
  let value: T;
  try {
    value = parse();
  } catch (error) {
    if (error instanceof AlpnResponderError) return;
    throw error;
  }
  valid(value);
}

const proxyAddress: fc.Arbitrary<ProxyAddress> = fc.oneof(
  fc.record({ family: fc.constant('tcp4' as const), sourceAddress: fc.ipV4(), sourcePort: fc.nat(65535), destinationAddress: fc.ipV4(), destinationPort: fc.nat(65535) }),
  fc.record({ family: fc.constant('tcp6' as const), sourceAddress: fc.ipV6(), sourcePort: fc.nat(65535), destinationAddress: fc.ipV6(), destinationPort: fc.nat(65535) }),
);
const proxySeeds = fc.sample(proxyAddress, { numRuns: 40, seed: 1 }).flatMap((address) => [formatProxyHeaderV1(address), formatProxyHeaderV2(address)]);

const word = fc.oneof(
  fc.constantFrom('deploy', 'clean', 'list', 'status', 'help', 'auth', 'unauth', 'DEPLOY', 'example.org', '*.example.org', '127.0.0.1', '::1', '3600', '0', '-1', 'a'.repeat(64), 'ab:cd'),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
const commandLine = fc.oneof(fc.array(word, { maxLength: 6 }).map((words) => words.join(' ')), fc.string({ unit: 'binary', maxLength: 200 }));
const identifierText = fc.oneof(
  fc.domain(),
  fc.ipV4(),
  fc.ipV6(),
  fc.ipV4Extended(),
  fc.webUrl(),
  fc.string({ unit: fc.constantFrom(...'abcdefxyz0123456789.-:*[]%_'), maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
);
const authorizationText = fc.oneof(
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex').match(/../g)!.join(':')),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url')),
  fc.tuple(fc.base64String(), fc.base64String()).map(([a, b]) => `${a}.${b}`),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:._-=+/ '), maxLength: 140 }),
  fc.string({ unit: 'binary', maxLength: 600 }),
);

t.test(`parsers under ${TOTAL_RUNS} random and mutated inputs`, async (t) => {
  const started = performance.now();
  check(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => parseHello(b)), runs(0.1));
  check(fc.property(mutated(hellos), (b) => parseHello(b)), runs(0.25));
  t.pass('ClientHello parser never throws, results well-formed');
  check(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => parseProxy(b)), runs(0.05));
  check(fc.property(mutated(proxySeeds), (b) => parseProxy(b)), runs(0.15));
  // A header followed by a hello, as a front proxy sends them.
  check(fc.property(mutated(proxySeeds.map((p, i) => Uint8Array.from([...p, ...(hellos[i % hellos.length] as Uint8Array)]))), (b) => parseProxy(b)), runs(0.05));
  t.pass('PROXY header parser never throws, results well-formed');
  check(
    fc.property(commandLine, (line) =>
      onlyOurErrors(
        () => parseCommand(line),
        (command) => {
          if (!['deploy', 'clean', 'list', 'status', 'help', 'auth', 'unauth'].includes(command.name)) throw new Error(`bad command ${command.name}`);
        },
      ),
    ),
    runs(0.15),
  );
  t.pass('control lines: only AlpnResponderError');
  check(
    fc.property(identifierText, (text) =>
      onlyOurErrors(
        () => parseIdentifier(text),
        (id) => {
          if (typeof id !== 'object' || id === null) throw new Error('bad identifier');
        },
      ),
    ),
    runs(0.15),
  );
  t.pass('identifiers: only AlpnResponderError');
  check(
    fc.property(authorizationText, (text) =>
      onlyOurErrors(
        () => parseAuthorization(text),
        (digest) => {
          if (!(digest instanceof Uint8Array) || digest.length !== DIGEST_LENGTH) throw new Error('bad digest');
        },
      ),
    ),
    runs(0.1),
  );
  t.pass('authorizations: only AlpnResponderError, digests of 32 bytes');
  t.ok(casesRun >= TOTAL_RUNS, `${casesRun} cases run`);
  t.comment(`${casesRun} cases in ${((performance.now() - started) / 1000).toFixed(1)} s`);
});

t.test('random and mutated bytes at the running daemon', async (t) => {
  const dir = shortTempDir(t);
  const daemon = await Daemon.start(testDaemonOptions(dir, { listen: [{ host: '127.0.0.1', port: 0 }] }), silentLogger);
  t.teardown(() => daemon.close());
  const port = daemon.listeners.addresses[0]!.port;
  const name = 'fuzz.example.test';
  const digest = createHash('sha256').update('fuzz').digest();
  /** Sends `bytes` then FIN; resolves once the daemon has closed the connection. */
  const send = (connect: () => net.Socket, bytes: Uint8Array): Promise<void> =>
    new Promise((resolve) => {
      const socket = connect();
      socket.on('error', () => undefined);
      socket.resume();
      socket.once('connect', () => socket.end(bytes));
      socket.once('close', () => resolve());
    });
  const tlsInputs = fc.sample(fc.oneof(fc.uint8Array({ maxLength: 2000 }), mutated(hellos), mutated(proxySeeds)), { numRuns: 2000, seed: 7 });
  const controlInputs = fc.sample(
    fc.oneof(commandLine.map((line) => Buffer.from(`${line}\n`, 'latin1')), fc.uint8Array({ maxLength: 5000 })),
    { numRuns: 1000, seed: 8 },
  );
  // 50 connections at a time, so the test stays within the default 1024 descriptors.
  const inBatches = async (inputs: readonly Uint8Array[], connect: () => net.Socket): Promise<void> => {
    for (let i = 0; i < inputs.length; i += 50) await Promise.all(inputs.slice(i, i + 50).map((bytes) => send(connect, bytes)));
  };
  await inBatches(tlsInputs, () => net.connect({ host: '127.0.0.1', port }));
  await inBatches(controlInputs, () => net.connect(daemon.control.path));
  t.equal(daemon.state, 'running', `${tlsInputs.length} TLS-port and ${controlInputs.length} control connections later, still running`);
  const reply = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(daemon.control.path, () => socket.end(`deploy ${name} ${digest.toString('hex')}\n`));
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    socket.once('close', () => resolve(text));
    socket.once('error', reject);
  });
  t.match(reply, /^OK deployed/, 'the control socket still deploys');
  const der = await new Promise<Buffer>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: name, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().raw);
      socket.end();
    });
    socket.once('error', reject);
  });
  t.same(await checkChallengeCertificate(new Uint8Array(der), parseIdentifier(name), digest), { ok: true }, 'and a CA handshake succeeds');
});
