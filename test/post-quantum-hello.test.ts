/**
 * A post-quantum ClientHello, as Let's Encrypt's validator sends since it is built with Go >= 1.24: an
 * X25519MLKEM768 key share makes the hello ~1.6 KB, and it often arrives in two TCP segments. A Node 24 client
 * (OpenSSL 3.5 offers that key share by default) sends it split in two, to the daemon running on Node 20 and on
 * Node 24; what is served must pass the CA's checks.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { dehydratedDigestOf, digestOf, judgeAsCa } from './helpers/ca-check.js';
import { IN_CI, REPO_ROOT, requirePeers, startDaemon } from './helpers/daemon.js';
import { nodeBinary, nodeMajor } from './helpers/node-binaries.js';
import { shortTempDir } from './helpers/tmp.js';

const execFileAsync = promisify(execFile);
const CLIENT = path.join(REPO_ROOT, 'test', 'helpers', 'pq-client.mjs');
/** TLS NamedGroup code points (IANA TLS Supported Groups registry; draft-ietf-tls-ecdhe-mlkem). */
const X25519MLKEM768 = 0x11ec;
const X25519 = 0x001d;

interface ClientResult {
  readonly node: string;
  readonly hello?: string;
  readonly segments: number[];
  readonly alpn?: string | false | null;
  readonly protocol?: string;
  readonly group?: string | null;
  readonly der?: string;
  readonly error?: string;
}

/**
 * The groups of the key_share extension (RFC 8446 §4.2.8) of one ClientHello record, with their key sizes. Walks
 * only as far as it needs and throws on anything out of bounds: the record comes from our own client.
 */
function keyShares(record: Buffer): { group: number; size: number }[] {
  let at = 5 + 4 + 2 + 32; // record header, handshake header, legacy_version, random
  const need = (n: number): void => {
    if (at + n > record.length) throw new Error(`ClientHello truncated at ${at}`);
  };
  const skip8 = (): void => (need(1), void (at += 1 + record.readUInt8(at)));
  const skip16 = (): void => (need(2), void (at += 2 + record.readUInt16BE(at)));
  skip8(); // legacy_session_id
  skip16(); // cipher_suites
  skip8(); // legacy_compression_methods
  need(2);
  const end = at + 2 + record.readUInt16BE(at);
  at += 2;
  while (at + 4 <= end) {
    const type = record.readUInt16BE(at);
    const length = record.readUInt16BE(at + 2);
    at += 4;
    if (type === 51) {
      const shares: { group: number; size: number }[] = [];
      let share = at + 2;
      while (share + 4 <= at + length) {
        const size = record.readUInt16BE(share + 2);
        shares.push({ group: record.readUInt16BE(share), size });
        share += 4 + size;
      }
      return shares;
    }
    at += length;
  }
  return [];
}

const node24 = nodeBinary(24);
const node20 = nodeBinary(20);
const missing = [node24, node20].flatMap((b) => ('missing' in b ? [b.missing] : []));
if (missing.length > 0 && IN_CI) t.fail(`${missing.join('; ')} — CI=true never skips`);
const skip = missing.length > 0 ? { skip: missing.join('; ') } : {};

t.test('a split post-quantum ClientHello from Node 24 is served and passes the CA checks', { ...requirePeers(t, [], true), ...skip }, async (t) => {
  if (!('path' in node24) || !('path' in node20)) return;
  for (const [label, daemonNode] of [['Node 20', node20.path], ['Node 24', node24.path]] as const) {
    await t.test(`daemon on ${label}`, async (t) => {
      t.equal(nodeMajor(daemonNode), label === 'Node 20' ? 20 : 24, `${daemonNode} is ${label}`);
      const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir: shortTempDir(t), node: daemonNode });
      t.teardown(() => daemon.stop());
      const name = `pq-${label.replace(' ', '').toLowerCase()}.example`;
      const deploy = await daemon.cli(['deploy', name, dehydratedDigestOf(name)]);
      t.equal(deploy.code, 0, 'deployed', { stderr: deploy.stderr });

      const port = daemon.listeners[0]?.port ?? 0;
      const { stdout } = await execFileAsync(node24.path, [CLIENT, '127.0.0.1', String(port), name], { timeout: 60_000 });
      const result = JSON.parse(stdout) as ClientResult;
      t.comment(`client Node ${result.node}: hello ${Buffer.from(result.hello ?? '', 'base64').length} bytes in segments ${result.segments.join('+')}, ${result.protocol ?? result.error}, group ${result.group ?? '?'}`);
      t.equal(result.error, undefined, 'the handshake completed');
      t.equal(result.node.split('.')[0], '24', 'the client ran on Node 24');

      const hello = Buffer.from(result.hello ?? '', 'base64');
      const shares = keyShares(hello);
      t.ok(shares.some((s) => s.group === X25519MLKEM768 && s.size === 1216), 'the hello offers an X25519MLKEM768 key share (1216 bytes)');
      t.ok(shares.some((s) => s.group === X25519), 'and an X25519 one');
      t.ok(hello.length > 1400, `the hello is large (${hello.length} bytes)`);
      t.equal(result.segments.length, 2, 'sent in two TCP segments');
      t.equal(result.segments.reduce((a, b) => a + b, 0), hello.length);

      t.equal(result.alpn, 'acme-tls/1');
      t.equal(result.protocol, 'TLSv1.3');
      // OpenSSL 3.0 (Node 20) does not know the hybrid group and settles on X25519; OpenSSL 3.5 (Node 24) takes it.
      if (label === 'Node 24') t.equal(result.group, 'X25519MLKEM768', 'Node 24 daemon: the post-quantum group is negotiated');
      const check = await judgeAsCa({ der: Buffer.from(result.der ?? '', 'base64'), alpn: result.alpn ?? null }, name, digestOf(name));
      t.same(check, { ok: true }, 'the CA accepts the certificate');
      const status = (await daemon.cli(['status'])).stdout;
      t.match(status, / served=1 /, 'the daemon counts it as served');
    });
  }
});
