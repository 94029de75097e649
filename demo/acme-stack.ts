/**
 * A real ACME test CA on loopback, for the end-to-end tests and `npm run demo`: Debian's pebble with
 * pebble-challtestsrv as its DNS, and dehydrated as the client. Everything listens on ports picked at run time and
 * lives in a temp dir. Debian's pebble ships no certificate for its own HTTPS API, so one is made here with openssl
 * (a throw-away CA and a `localhost` certificate, valid two days), and dehydrated trusts it through curl's --cacert.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { cleanEnv, freePort, run, spawnManaged, waitUntil, GiveUp, type ManagedProcess, type RunResult } from '../test/helpers/daemon.js';

const execFileAsync = promisify(execFile);

/** Binaries {@link startAcmeStack} and {@link runDehydrated} need. */
export const ACME_PEERS = ['pebble', 'pebble-challtestsrv', 'dehydrated', 'openssl', 'curl'] as const;

/** A running pebble + pebble-challtestsrv pair. */
export interface AcmeStack {
  /** ACME directory URL, as dehydrated's `CA=`. */
  readonly directoryUrl: string;
  /** CA file that verifies pebble's API certificate (for curl's `--cacert`). */
  readonly apiCaFile: string;
  /** Port pebble dials for tls-alpn-01 (on whatever address DNS gives). */
  readonly tlsPort: number;
  readonly dnsPort: number;
  readonly managementPort: number;
  readonly pebble: ManagedProcess;
  readonly challtestsrv: ManagedProcess;
  /** Stops both; safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@link startAcmeStack}. */
export interface AcmeStackOptions {
  /** Scratch directory (config, API certificate). */
  dir: string;
  /** Port of the TLS-ALPN-01 responder under test. */
  tlsPort: number;
  /**
   * Answer AAAA queries with ::1, so pebble dials IPv6 (it tries only the first address, AAAA first).
   * Without it, only A records (127.0.0.1) exist.
   */
  ipv6: boolean;
  /** No default A record either: names resolve only through {@link addDnsRecord}. */
  explicitDnsOnly?: boolean;
  timeoutMs?: number;
}

/** Makes a throwaway CA and a `localhost` server certificate for pebble's own HTTPS API. */
async function makeApiCertificate(dir: string): Promise<{ caFile: string; certFile: string; keyFile: string }> {
  const caKey = path.join(dir, 'api-ca.key');
  const caFile = path.join(dir, 'api-ca.pem');
  const keyFile = path.join(dir, 'api.key');
  const csrFile = path.join(dir, 'api.csr');
  const certFile = path.join(dir, 'api.pem');
  const extFile = path.join(dir, 'api.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await execFileAsync('openssl', ['req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', '/CN=alpn-responder test API CA']);
  await execFileAsync('openssl', ['req', ...ec, '-keyout', keyFile, '-out', csrFile, '-subj', '/CN=localhost']);
  await writeFile(extFile, 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  await execFileAsync('openssl', ['x509', '-req', '-in', csrFile, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', extFile]);
  return { caFile, certFile, keyFile };
}

function httpsStatus(url: string, ca: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { ca, timeout: 2_000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}

/** Resolves true once a TCP connection to host:port opens; rejects with the connect error. */
export function tcpReachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', reject);
  });
}

/**
 * Starts pebble-challtestsrv (DNS answering every name with 127.0.0.1, and ::1 when `ipv6`) and pebble pointed
 * at it, and resolves once pebble serves its directory.
 */
export async function startAcmeStack(options: AcmeStackOptions): Promise<AcmeStack> {
  const { dir, tlsPort, ipv6 } = options;
  const timeoutMs = options.timeoutMs ?? 60_000;
  await mkdir(dir, { recursive: true });
  const api = await makeApiCertificate(dir);
  const dnsPort = await freePort(['127.0.0.1'], { udp: true });
  const managementPort = await freePort();
  const pebblePort = await freePort();
  const pebbleManagementPort = await freePort();
  const httpPort = await freePort();

  const challtestsrv = spawnManaged(
    'pebble-challtestsrv',
    'pebble-challtestsrv',
    [
      '-defaultIPv4', options.explicitDnsOnly ? '' : '127.0.0.1',
      '-defaultIPv6', ipv6 && !options.explicitDnsOnly ? '::1' : '',
      '-dns01', `127.0.0.1:${dnsPort}`,
      '-http01', '',
      '-https01', '',
      '-tlsalpn01', '',
      '-management', `127.0.0.1:${managementPort}`,
    ],
    { cwd: dir, env: cleanEnv() },
  );

  const configFile = path.join(dir, 'pebble.json');
  await writeFile(
    configFile,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${pebblePort}`,
        managementListenAddress: `127.0.0.1:${pebbleManagementPort}`,
        certificate: api.certFile,
        privateKey: api.keyFile,
        httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const pebbleEnv = cleanEnv({
    // Validate at once instead of after a random 0-15 s.
    PEBBLE_VA_NOSLEEP: '1',
    // dehydrated never retries badNonce.
    PEBBLE_WFE_NONCEREJECT: '0',
    // Every order must really be validated through the responder.
    PEBBLE_AUTHZREUSE: '0',
  });
  delete pebbleEnv.PEBBLE_VA_ALWAYS_VALID;
  const pebble = spawnManaged('pebble', 'pebble', ['-config', configFile, '-dnsserver', `127.0.0.1:${dnsPort}`], {
    cwd: dir,
    env: pebbleEnv,
  });

  const stop = async (): Promise<void> => {
    await Promise.all([pebble.stop(), challtestsrv.stop()]);
  };
  const directoryUrl = `https://localhost:${pebblePort}/dir`;
  try {
    const ca = await readFile(api.caFile);
    const alive = (): void => {
      for (const p of [pebble, challtestsrv]) {
        const state = p.exitState();
        if (state !== undefined) throw new GiveUp(`${p.name} exited (${state})`);
      }
    };
    await waitUntil('pebble-challtestsrv', async () => (alive(), (await tcpReachable('127.0.0.1', managementPort)) || undefined), timeoutMs);
    await waitUntil('pebble directory', async () => (alive(), (await httpsStatus(directoryUrl, ca)) === 200 || undefined), timeoutMs);
  } catch (error) {
    await stop();
    throw new Error(
      `${(error as Error).message}\n--- pebble ---\n${pebble.output()}\n--- pebble-challtestsrv ---\n${challtestsrv.output()}`,
    );
  }
  return { directoryUrl, apiCaFile: api.caFile, tlsPort, dnsPort, managementPort, pebble, challtestsrv, stop };
}

/** Makes pebble-challtestsrv answer `host`'s A or AAAA query with `address` (its management API, /add-a, /add-aaaa). */
export async function addDnsRecord(stack: AcmeStack, type: 'A' | 'AAAA', host: string, address: string): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${stack.managementPort}/add-${type.toLowerCase()}`, {
    method: 'POST',
    body: JSON.stringify({ host: host.endsWith('.') ? host : `${host}.`, addresses: [address] }),
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`pebble-challtestsrv refused ${type} ${host} ${address}: HTTP ${response.status}`);
}

/** One certificate dehydrated should hold after a run. */
export interface IssuedCertificate {
  /** First name (dehydrated's directory name). */
  name: string;
  file: string;
  /** DNS names from the certificate's subjectAltName. */
  sans: string[];
  /** ms from dehydrated's "Processing <name>" to the certificate being written, measured on its output. */
  ms?: number;
}

/** Outcome of {@link runDehydrated}. */
export interface DehydratedRun {
  register: RunResult;
  /** The `dehydrated -c` run (absent when registration failed). */
  issue?: RunResult;
  /** One entry per requested certificate whose cert.pem exists. */
  certificates: IssuedCertificate[];
  /** Wall time of the `-c` run, ms. */
  ms: number;
}

/** Options of {@link runDehydrated}. */
export interface DehydratedOptions {
  stack: AcmeStack;
  /** Fresh BASEDIR (a fresh account every run: pebble may still reuse ~1 % of authorizations per account). */
  dir: string;
  /** dehydrated's HOOK; undefined leaves it unset (the responder then reads ALPNCERTDIR). */
  hook: string | undefined;
  hookChain: boolean;
  /** dehydrated's ALPNCERTDIR; default `<dir>/alpn-certs`. */
  alpnCertDir?: string;
  /** Each entry is one certificate: its names, first one is the subject. */
  certificates: readonly (readonly string[])[];
  keyAlgo?: 'secp384r1' | 'prime256v1' | 'rsa';
  /** Environment for dehydrated and so for the hook. */
  env?: NodeJS.ProcessEnv;
  /** Kill dehydrated after this long without output (see run() in test/helpers/daemon.ts); default 120 s. */
  timeoutMs?: number;
}

/** subjectAltName DNS names of a PEM certificate, via `openssl x509 -ext subjectAltName`. */
export async function certificateSans(file: string): Promise<string[]> {
  const { stdout } = await execFileAsync('openssl', ['x509', '-in', file, '-noout', '-ext', 'subjectAltName']);
  return [...stdout.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1] ?? '').sort();
}

/** Per-certificate durations from dehydrated's output, which arrives with timestamps via `onLine`. */
function timeCertificates(events: readonly { at: number; line: string }[]): Map<string, number> {
  const times = new Map<string, number>();
  let current: { name: string; at: number } | undefined;
  let chainSeen = false;
  for (const { at, line } of events) {
    const processing = /^Processing (\S+)/.exec(line);
    if (processing?.[1] !== undefined) {
      current = { name: processing[1], at };
      chainSeen = false;
    } else if (line.includes('Creating fullchain.pem')) {
      chainSeen = true;
    } else if (current !== undefined && chainSeen && line.trim() === '+ Done!') {
      times.set(current.name, at - current.at);
      current = undefined;
    }
  }
  return times;
}

/**
 * Registers a fresh account and issues `certificates` in one `dehydrated -c` run (domains.txt, one line per
 * certificate), with CHALLENGETYPE=tls-alpn-01 and `hook`. Never throws on dehydrated failures: callers assert.
 */
export async function runDehydrated(options: DehydratedOptions): Promise<DehydratedRun> {
  const { stack, dir, hook, hookChain, certificates } = options;
  await mkdir(dir, { recursive: true });
  const configFile = path.join(dir, 'config');
  const domainsFile = path.join(dir, 'domains.txt');
  await writeFile(domainsFile, certificates.map((names) => names.join(' ')).join('\n') + '\n');
  await writeFile(
    configFile,
    [
      `BASEDIR=${dir}`,
      `CA=${stack.directoryUrl}`,
      'CHALLENGETYPE=tls-alpn-01',
      `HOOK=${hook ?? ''}`,
      `HOOK_CHAIN=${hookChain ? 'yes' : 'no'}`,
      `CURL_OPTS="--cacert ${stack.apiCaFile}"`,
      `KEY_ALGO=${options.keyAlgo ?? 'secp384r1'}`,
      `ALPNCERTDIR=${options.alpnCertDir ?? path.join(dir, 'alpn-certs')}`,
      `DOMAINS_TXT=${domainsFile}`,
      'CONTACT_EMAIL=',
      '',
    ].join('\n'),
  );
  // The hook's startup check (doctor --quick) asks whether the CA's port reaches the daemon: pebble's, not 443.
  const env = cleanEnv({ ALPN_RESPONDER_CA_PORT: String(options.stack.tlsPort), ...options.env });
  // A silence limit (see run()): dehydrated prints as it goes, so however slow the machine, it is not cut off.
  const { timeoutMs } = options;
  const register = await run('dehydrated', ['--config', configFile, '--register', '--accept-terms'], {
    env,
    cwd: dir,
    timeoutMs,
  });
  if (register.code !== 0) return { register, certificates: [], ms: 0 };

  const events: { at: number; line: string }[] = [];
  const started = performance.now();
  const issue = await run('dehydrated', ['--config', configFile, '-c'], {
    env,
    cwd: dir,
    timeoutMs,
    onStdoutLine: (line) => events.push({ at: performance.now(), line }),
  });
  const ms = performance.now() - started;
  const times = timeCertificates(events);
  const issued: IssuedCertificate[] = [];
  for (const names of certificates) {
    const name = names[0];
    if (name === undefined) continue;
    const file = path.join(dir, 'certs', name, 'cert.pem');
    try {
      issued.push({ name, file, sans: await certificateSans(file), ms: times.get(name) });
    } catch {
      // Not issued: the caller's assertions report it with dehydrated's output.
    }
  }
  return { register, issue, certificates: issued, ms };
}

