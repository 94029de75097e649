/**
 * End to end: dehydrated orders real certificates from pebble, validated over TLS-ALPN-01 against our daemon,
 * fed by hooks/dehydrated-hook.sh. pebble-challtestsrv is the DNS, so the CA dials the daemon on loopback.
 */
import path from 'node:path';
import t from 'tap';
import { freePort, hasIPv6Loopback, REPO_ROOT, requirePeers, startDaemon, type Daemon } from '../helpers/daemon.js';
import { ACME_PEERS, runDehydrated, startAcmeStack, startUalpn, type AcmeStack, type DehydratedRun } from '../helpers/pebble.js';
import { shortTempDir } from '../helpers/tmp.js';

const HOOK = path.join(REPO_ROOT, 'hooks', 'dehydrated-hook.sh');

// The last overload of t.test is `(cb)`, whose argument is the fully plugged-in Test type.
type Test = Parameters<Parameters<typeof t.test>[0]>[0];

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

/** Asserts one dehydrated run issued every certificate with exactly the requested names, and reports its time. */
function checkRun(
  t: Test,
  label: string,
  wanted: readonly (readonly string[])[],
  result: DehydratedRun,
  context: () => Record<string, string>,
): void {
  const diag = (): Record<string, string> => ({
    register: tail(result.register.stdout + result.register.stderr),
    dehydrated: tail((result.issue?.stdout ?? '') + (result.issue?.stderr ?? ''), 60),
    ...context(),
  });
  t.equal(result.register.code, 0, `${label}: account registered`, result.register.code === 0 ? {} : diag());
  t.equal(result.issue?.code, 0, `${label}: dehydrated -c exits 0`, result.issue?.code === 0 ? {} : diag());
  for (const names of wanted) {
    const cert = result.certificates.find((c) => c.name === names[0]);
    t.ok(cert, `${label}: certificate for ${names[0]} written`, cert ? {} : diag());
    if (cert === undefined) continue;
    t.same(cert.sans, [...names].sort(), `${label}: ${names[0]} has every SAN`);
    t.comment(`${label}: ${names.length}-name certificate ${names[0]} in ${cert.ms?.toFixed(0) ?? '?'} ms`);
  }
  t.comment(`${label}: ${wanted.length} certificate(s) in ${result.ms.toFixed(0)} ms (dehydrated -c wall time)`);
}

/** One dehydrated run of a scenario: hook mode and how many certificates (the first has three names). */
interface Variant {
  chain: boolean;
  certificates: 1 | 2;
}

function certificatesFor(tag: string, count: 1 | 2): string[][] {
  // Three names in one certificate, then optionally a second certificate in the same run.
  const all = [['a', 'b', 'c'].map((n) => `${n}.${tag}.example.test`), ['d', 'e'].map((n) => `${n}.${tag}.example.test`)];
  return all.slice(0, count);
}

/**
 * One CA + one daemon, and the variants' dehydrated runs at once (distinct names, fresh accounts), which also
 * exercises concurrent deploys on one control socket.
 */
async function scenario(t: Test, ipv6: boolean, variants: readonly Variant[], workers = 1): Promise<void> {
  const dir = shortTempDir(t, 'ar-e2e-');
  const hosts = ipv6 ? ['::1', '127.0.0.1'] : ['127.0.0.1'];
  // pebble dials one tlsPort on whichever address DNS gives, so both listeners need the same port.
  const port = await freePort(hosts);
  const started = performance.now();
  const daemon: Daemon = await startDaemon({
    listen: hosts.map((h) => (h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`)),
    dir: path.join(dir, 'daemon'),
    args: ['--workers', String(workers)],
  });
  t.teardown(() => daemon.stop());
  t.same(
    daemon.listeners.map((l) => l.port),
    hosts.map(() => port),
    'daemon listens on the port pebble dials, on every address',
  );
  const stack: AcmeStack = await startAcmeStack({ dir: path.join(dir, 'pebble'), tlsPort: port, ipv6 });
  t.teardown(() => stack.stop());
  t.comment(`daemon + pebble + challtestsrv up in ${(performance.now() - started).toFixed(0)} ms`);

  const context = (): Record<string, string> => ({
    daemon: tail(daemon.logLines().join('\n')),
    pebble: tail(stack.pebble.output()),
  });
  const family = ipv6 ? 'v6' : 'v4';
  const runs = await Promise.all(
    variants.map(async ({ chain, certificates }) => {
      const tag = `${chain ? 'chain' : 'single'}.${family}`;
      const wanted = certificatesFor(tag, certificates);
      const result = await runDehydrated({
        stack,
        dir: path.join(dir, `dehydrated-${tag}`),
        hook: HOOK,
        hookChain: chain,
        certificates: wanted,
        keyAlgo: chain ? 'rsa' : 'secp384r1',
        env: { ALPN_RESPONDER_CONTROL: daemon.controlPath },
      });
      return { label: `${family} HOOK_CHAIN=${chain ? 'yes' : 'no'}`, wanted, result };
    }),
  );
  for (const { label, wanted, result } of runs) checkRun(t, label, wanted, result, context);

  const list = await daemon.request('list');
  t.equal(list.at(-1), 'OK 0', 'clean_challenge left no challenge deployed', { list });
  t.match((await daemon.request('status'))[0], new RegExp(` workers=${workers} `), `served by ${workers} worker process(es)`);

  // Both listeners share the port, so only the daemon's connection events show which family the CA used.
  const connections = daemon.logLines().filter((l) => / event=connection( |$)/.test(l));
  const fromV6 = connections.filter((l) => / remote="?\[?::1\]?[:" ]/.test(l));
  const log = { log: tail(daemon.logLines().join('\n')) };
  t.ok(connections.length > 0, 'the daemon logged the CA\'s connections', log);
  if (ipv6) t.equal(fromV6.length, connections.length, 'the CA reached the daemon over IPv6 (::1) only', log);
  else t.equal(fromV6.length, 0, 'the CA reached the daemon over IPv4 only', log);
}

// dehydrated is CPU-bound bash: the three stacks run side by side, each on its own ports and temp dir.
t.jobs = 3;

const peers = [...ACME_PEERS];
const hasV6 = await hasIPv6Loopback();

t.test('harness self-check: pebble + challtestsrv + dehydrated against ualpn', requirePeers(t, [...peers, 'ualpn', 'basenc']), async (t) => {
  const dir = shortTempDir(t, 'ar-e2e-');
  const port = await freePort();
  const ualpn = await startUalpn(path.join(dir, 'ualpn'), port);
  t.teardown(() => ualpn.stop());
  const stack = await startAcmeStack({ dir: path.join(dir, 'pebble'), tlsPort: port, ipv6: false });
  t.teardown(() => stack.stop());
  const wanted = [['a', 'b', 'c'].map((n) => `${n}.ualpn.example.test`)];
  const result = await runDehydrated({ stack, dir: path.join(dir, 'dehydrated'), hook: ualpn.hook, hookChain: false, certificates: wanted });
  checkRun(t, 'ualpn', wanted, result, () => ({ ualpn: tail(ualpn.process.output()), pebble: tail(stack.pebble.output()) }));
});

function ipv6Options(): { skip?: string } {
  const options = requirePeers(t, peers, true);
  if (options.skip === undefined && !hasV6) {
    // CI machines have ::1: there a missing IPv6 path must not pass silently.
    if (process.env.CI === 'true') t.fail('no IPv6 loopback (::1) on this CI machine');
    return { skip: 'no IPv6 loopback (::1) here' };
  }
  return options;
}

t.test('daemon + hook: CA dials IPv6 first, daemon (--workers 2) on [::1] and 127.0.0.1', ipv6Options(), async (t) => {
  await scenario(
    t,
    true,
    [
      { chain: false, certificates: 2 },
      { chain: true, certificates: 2 },
    ],
    2,
  );
});

t.test('daemon + hook: IPv4 only, daemon on 127.0.0.1', requirePeers(t, peers, true), async (t) => {
  // Hook modes are covered above; here only the address family changes.
  await scenario(t, false, [{ chain: true, certificates: 1 }]);
});
