/**
 * `npm run demo`: a real certificate issued through alpn-responder, on this machine, in about half a minute.
 * Debian's pebble (a test ACME CA) and pebble-challtestsrv (its DNS), the daemon and dehydrated run on free
 * loopback ports in a temp directory; dehydrated orders one certificate for two names — one with only an A record,
 * one with only an AAAA record — and its hook deploys the challenges to the daemon, which pebble then validates
 * over IPv4 and IPv6. Everything is stopped and deleted at the end. docs/try-it.md explains each step.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, hasIPv6Loopback, REPO_ROOT, startDaemon, which, type Daemon } from '../test/helpers/daemon.js';
import { ACME_PEERS, addDnsRecord, runDehydrated, startAcmeStack, type AcmeStack } from './acme-stack.js';

const execFileAsync = promisify(execFile);
const HOOK = path.join(REPO_ROOT, 'hooks', 'dehydrated-hook.sh');
/** The Debian package that brings each program the demo runs. */
const DEBIAN_PACKAGE: Record<(typeof ACME_PEERS)[number], string> = {
  pebble: 'pebble',
  'pebble-challtestsrv': 'pebble',
  dehydrated: 'dehydrated',
  openssl: 'openssl',
  curl: 'curl',
};
const NAMES = { ipv4: 'ipv4-only.demo.test', ipv6: 'ipv6-only.demo.test' } as const;

const step = (text: string): void => void process.stdout.write(`\n== ${text}\n`);
const say = (text: string): void => void process.stdout.write(`   ${text}\n`);

async function main(): Promise<number> {
  const missing = ACME_PEERS.filter((name) => which(name) === undefined);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((name) => DEBIAN_PACKAGE[name]))].join(' ');
    process.stderr.write(`demo: ${missing.join(', ')} not found. Install them with:\n  apt-get install -y ${packages}\n(as root, or with sudo)\n`);
    return 1;
  }
  if (!(await hasIPv6Loopback())) {
    process.stderr.write('demo: this machine has no IPv6 loopback (::1), which the IPv6-only name needs (sysctl net.ipv6.conf.lo.disable_ipv6=0)\n');
    return 1;
  }

  const dir = await mkdtemp(path.join(os.tmpdir(), 'alpn-responder-demo-'));
  let daemon: Daemon | undefined;
  let stack: AcmeStack | undefined;
  const cleanup = async (): Promise<void> => {
    await Promise.allSettled([daemon?.stop(), stack?.stop()]);
    await rm(dir, { recursive: true, force: true });
  };
  const interrupted = (): void => void cleanup().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    step(`work directory ${dir}`);
    const port = await freePort(['127.0.0.1', '::1']);
    step(`alpn-responder serve on 127.0.0.1:${port} and [::1]:${port}`);
    daemon = await startDaemon({ listen: [`127.0.0.1:${port}`, `[::1]:${port}`], dir: path.join(dir, 'daemon') });
    say(`control socket ${daemon.controlPath}`);
    say((await daemon.cli(['status'])).stdout.trim());

    step('pebble (test ACME CA) and pebble-challtestsrv (its DNS)');
    stack = await startAcmeStack({ dir: path.join(dir, 'pebble'), tlsPort: port, ipv6: false, explicitDnsOnly: true });
    say(`ACME directory ${stack.directoryUrl}; pebble validates tls-alpn-01 on port ${port}`);
    say(`pebble's API certificate: made with openssl, CA ${stack.apiCaFile} (dehydrated trusts it via curl --cacert)`);
    await addDnsRecord(stack, 'A', NAMES.ipv4, '127.0.0.1');
    await addDnsRecord(stack, 'AAAA', NAMES.ipv6, '::1');
    say(`DNS: ${NAMES.ipv4} A 127.0.0.1 (no AAAA); ${NAMES.ipv6} AAAA ::1 (no A)`);

    step(`dehydrated --register, then dehydrated -c for ${NAMES.ipv4} ${NAMES.ipv6} (HOOK=${path.relative(REPO_ROOT, HOOK)})`);
    const result = await runDehydrated({
      stack,
      dir: path.join(dir, 'dehydrated'),
      hook: HOOK,
      hookChain: true,
      certificates: [[NAMES.ipv4, NAMES.ipv6]],
      env: { ALPN_RESPONDER_CONTROL: daemon.controlPath },
      timeoutMs: 120_000,
    });
    for (const line of (result.issue ?? result.register).stdout.split('\n').filter((l) => l.trim() !== '')) say(`dehydrated: ${line}`);
    const certificate = result.certificates[0];
    if (certificate === undefined || result.issue?.code !== 0) {
      process.stderr.write(`demo: no certificate was issued.\n--- dehydrated stderr ---\n${(result.issue ?? result.register).stderr}\n`);
      process.stderr.write(`--- alpn-responder log ---\n${daemon.logLines().join('\n')}\n`);
      return 1;
    }

    step('what the daemon served (its log)');
    for (const line of daemon.logLines().filter((l) => / event=(deploy|connection|clean) /.test(l))) say(line);

    step(`the certificate: ${certificate.file}`);
    const { stdout } = await execFileAsync('openssl', ['x509', '-in', certificate.file, '-noout', '-subject', '-issuer', '-ext', 'subjectAltName', '-dates']);
    for (const line of stdout.split('\n').filter((l) => l.trim() !== '')) say(line.trim());
    say(`names: ${certificate.sans.join(', ')}`);
    const served = daemon.logLines().filter((l) => / event=connection .*outcome=served/.test(l));
    const overIpv6 = served.some((l) => / remote=\[?::1/.test(l));
    const overIpv4 = served.some((l) => / remote=127\.0\.0\.1/.test(l));
    say(`validated over IPv4: ${overIpv4 ? 'yes' : 'no'}, over IPv6: ${overIpv6 ? 'yes' : 'no'}`);
    const ok = certificate.sans.includes(NAMES.ipv4) && certificate.sans.includes(NAMES.ipv6) && overIpv4 && overIpv6;
    step(ok ? 'done: a certificate for both names, validated through alpn-responder; cleaning up' : 'FAILED: see above');
    return ok ? 0 : 1;
  } finally {
    await cleanup();
    say(`stopped pebble, pebble-challtestsrv and the daemon; removed ${dir}`);
  }
}

process.exitCode = await main();
