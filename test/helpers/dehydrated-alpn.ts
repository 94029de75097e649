/**
 * Challenge certificate + key pairs made the way dehydrated's generate_alpn_certificate makes them (0.7.0 as
 * packaged; 0.7.2 for IP identifiers): the system openssl.cnf plus a `[SAN]` section, `openssl req -x509 -new
 * -sha256 -nodes -newkey rsa:2048 -keyout NAME.key.pem -out NAME.crt.pem -subj /CN=NAME/ -extensions SAN`.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** SHA-256 of a key authorization as dehydrated hands it to openssl: colon-separated hex (`dgst -c -hex`). */
export function dehydratedDigest(keyAuthorization: string): string {
  return createHash('sha256').update(keyAuthorization).digest('hex').match(/../g)!.join(':');
}

/** The same digest as 64 hex digits, as `list` and `event=watch-load` show it. */
export function plainHex(colonHex: string): string {
  return colonHex.replaceAll(':', '');
}

let systemConfig: Promise<string> | undefined;

/** dehydrated's default OPENSSL_CNF: `$(openssl version -d)/openssl.cnf`. */
function opensslConfig(): Promise<string> {
  systemConfig ??= (async () => {
    const { stdout } = await execFileAsync('openssl', ['version', '-d']);
    const dir = /"([^"]*)"/.exec(stdout)?.[1] ?? '/usr/lib/ssl';
    return readFile(path.join(dir, 'openssl.cnf'), 'utf8');
  })();
  return systemConfig;
}

/** Options of {@link makeDehydratedPair}. */
export interface PairOptions {
  /** `ip`: dehydrated 0.7.2's IP identifiers — `subjectAltName=IP:…`, files named after `fileName`. */
  type?: 'dns' | 'ip';
  /** File base name; dehydrated uses the identifier (for IPs, 0.7.2 uses its reverse-DNS name). */
  fileName?: string;
  /** Reuse this key file (`-key`) instead of `-newkey rsa:2048`, to make many pairs quickly. */
  keyFile?: string;
  /** Leave the acmeIdentifier extension out: an ordinary self-signed certificate. */
  plain?: boolean;
}

/** A generated pair, still outside the watched directory. */
export interface Pair {
  readonly name: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * Runs dehydrated's openssl invocation for `identifier` with the colon-hex `digest` and returns the two PEM files'
 * contents, so a test can write them into the watched directory in whatever order and pieces it likes.
 */
export async function makeDehydratedPair(identifier: string, digest: string, options: PairOptions = {}): Promise<Pair> {
  const name = options.fileName ?? identifier;
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'ar-pair-'));
  try {
    const config = path.join(scratch, 'openssl.cnf');
    const san = options.type === 'ip' ? `IP:${identifier}` : `DNS:${identifier}`;
    const acme = options.plain ? '' : `1.3.6.1.5.5.7.1.31=critical,DER:04:20:${digest}\n`;
    await writeFile(config, `${await opensslConfig()}\n[SAN]\nsubjectAltName=${san}\n${acme}`);
    const keyOut = path.join(scratch, `${name}.key.pem`);
    const certOut = path.join(scratch, `${name}.crt.pem`);
    const key = options.keyFile === undefined ? ['-newkey', 'rsa:2048', '-keyout', keyOut] : ['-key', options.keyFile];
    await execFileAsync('openssl', [
      'req', '-x509', '-new', '-sha256', '-nodes', ...key, '-out', certOut, '-subj', `/CN=${identifier}/`,
      '-extensions', 'SAN', '-config', config,
    ]);
    if (options.keyFile !== undefined) await copyFile(options.keyFile, keyOut);
    return { name, certPem: await readFile(certOut, 'utf8'), keyPem: await readFile(keyOut, 'utf8') };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Writes a pair into `dir` as openssl does: the key file, then the certificate file. */
export async function writePair(dir: string, pair: Pair): Promise<void> {
  await writeFile(path.join(dir, `${pair.name}.key.pem`), pair.keyPem, { mode: 0o640 });
  await writeFile(path.join(dir, `${pair.name}.crt.pem`), pair.certPem, { mode: 0o640 });
}

/** Deletes a pair as dehydrated does after validation: `rm -f NAME.crt.pem NAME.key.pem`. */
export async function removePair(dir: string, name: string): Promise<void> {
  await rm(path.join(dir, `${name}.crt.pem`), { force: true });
  await rm(path.join(dir, `${name}.key.pem`), { force: true });
}

/** An RSA-2048 key file in `dir`, for {@link PairOptions.keyFile}. */
export async function makeRsaKey(dir: string): Promise<string> {
  const file = path.join(dir, 'shared.key.pem');
  await execFileAsync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file]);
  return file;
}
