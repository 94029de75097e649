/**
 * The doctor against real things: an in-process daemon on ephemeral ports, nginx holding a port, nginx stream in
 * front of a daemon that takes PROXY headers only, no daemon at all, and a user who may not use the socket.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import { sendCommands } from '../../src/control/client.js';
import { Daemon, type DaemonOptions } from '../../src/daemon.js';
import type { Check } from '../../src/diagnostics/checklist.js';
import { OUR_HOOK } from '../../src/diagnostics/dehydrated-config-files.js';
import { runDoctor, type DoctorOptions } from '../../src/diagnostics/doctor.js';
import { silentLogger } from '../../src/log.js';
import { freePort, hasIPv6Loopback, REPO_ROOT, requirePeers, run, spawnManaged, waitUntil } from '../helpers/daemon.js';
import { testDaemonOptions } from '../helpers/daemon-options.js';
import { startNginx } from '../helpers/nginx.js';
import { shortTempDir } from '../helpers/tmp.js';

async function startDaemon(t: Test, overrides: Partial<DaemonOptions> = {}) {
  const dir = shortTempDir(t);
  const listen = [{ host: '127.0.0.1', port: 0 }, ...((await hasIPv6Loopback()) ? [{ host: '::1', port: 0 }] : [])];
  const daemon = await Daemon.start(testDaemonOptions(dir, { listen, ...overrides }), silentLogger);
  t.teardown(() => daemon.close());
  return { daemon, dir, controlPath: daemon.control.path };
}

/** A dehydrated config that is right for alpn-responder. */
async function goodConfig(dir: string, extra = ''): Promise<string> {
  const file = path.join(dir, 'dehydrated-config');
  await writeFile(file, `CHALLENGETYPE="tls-alpn-01"\nHOOK="${OUR_HOOK}"\nHOOK_CHAIN="yes"\n${extra}`);
  return file;
}

/**
 * The CA's port is one nothing here listens on (tcpmux, 1), so that the runs do not depend on who holds 443 on this
 * host: every loopback daemon then gets the ✗ ca-port line (judged in ca-port.test.ts; the real 443 below).
 */
function doctor(options: Partial<DoctorOptions> & { controlPath: string }): Promise<Check[]> {
  return runDoctor({ controlPathIsDefault: false, quick: false, caPort: 1, ...options });
}

/** The one line every loopback daemon gets: the CA could not reach it. */
const CA_PORT_REFUSED = { id: 'ca-port', status: 'fail', title: /^port 1: the CA connects to port 1 only, and nothing listens there that it can reach/ };

const lines = (checks: readonly Check[], id: string) => checks.filter((c) => c.id === id);
const show = (checks: readonly Check[]) => checks.map((c) => `${c.status} ${c.title}${c.remedy ? ` → ${c.remedy}` : ''}`).join('\n');

t.test('a healthy daemon: every check passes, and the self-test leaves nothing behind', async (t) => {
  const { daemon, dir, controlPath } = await startDaemon(t);
  const checks = await doctor({ controlPath, dehydratedConfig: await goodConfig(dir) });
  t.same(checks.filter((c) => c.id !== 'ca-port' && (c.status === 'fail' || c.status === 'warn')), [], show(checks));
  t.match(lines(checks, 'ca-port'), [CA_PORT_REFUSED], 'but on loopback only, the CA cannot reach it');
  const ports = daemon.listeners.addresses.map((a) => a.port);
  t.match(lines(checks, 'control'), [{ status: 'pass', title: new RegExp(`^control socket ${controlPath}: alpn-responder \\S+, up \\d+s, listening on 127\\.0\\.0\\.1:${ports[0]}`) }]);
  t.same(
    lines(checks, 'port').map((c) => c.title),
    daemon.listeners.addresses.map((a) => `port ${a.port}: alpn-responder (pid ${process.pid}, node) on ${a.host.includes(':') ? `[${a.host}]` : a.host} (${a.host.includes(':') ? 'IPv6' : 'IPv4'} only)`),
    'each port: alpn-responder, with this process\'s pid',
  );
  t.equal(lines(checks, 'loopback').length, ports.length);
  const selfTests = lines(checks, 'self-test');
  t.equal(selfTests.length, ports.length, 'one self-test per listener');
  for (const line of selfTests) t.match(line.title, /^self-test via \S+: the challenge certificate passes the CA's checks \(TLSv1\.3, acme-tls\/1\)$/);
  t.match(lines(checks, 'dehydrated').map((c) => c.status), ['info', 'pass', 'pass', 'info']);
  const [list] = await sendCommands(controlPath, ['list']);
  t.same(list?.lines, [], 'the throwaway challenge was cleaned');
});

t.test('the control socket the dehydrated config exports is the one checked', async (t) => {
  const { dir, controlPath } = await startDaemon(t);
  const config = await goodConfig(dir, `export ALPN_RESPONDER_CONTROL=${controlPath}\n`);
  const defaulted = await doctor({ controlPath: path.join(dir, 'default.sock'), controlPathIsDefault: true, dehydratedConfig: config });
  t.equal(lines(defaulted, 'control')[0]?.status, 'pass', show(defaulted));
  const explicit = await doctor({ controlPath: path.join(dir, 'given.sock'), dehydratedConfig: config });
  t.match(lines(explicit, 'control')[0], { status: 'fail', title: /given\.sock: no such socket/ }, 'an explicit --control wins');
});

t.test('the hook uses another control socket than the one checked: ✗ when it does not answer, ! when it does', async (t) => {
  const { dir, controlPath } = await startDaemon(t);
  const confD = path.join(dir, 'conf.d');
  await mkdir(confD);
  const other = path.join(dir, 'other.sock');
  await writeFile(path.join(confD, 'alpn.sh'), `export ALPN_RESPONDER_CONTROL=${other}\n`);
  const config = await goodConfig(dir, `CONFIG_D=${confD}\n`);
  const checks = await doctor({ controlPath, dehydratedConfig: config });
  t.match(lines(checks, 'control'), [{ status: 'pass' }], 'the checked daemon is fine');
  t.match(
    checks.find((c) => c.title.includes('deploy would fail')),
    { id: 'dehydrated', status: 'fail', title: `dehydrated: the hook's deploy would fail: ALPN_RESPONDER_CONTROL names the control socket ${other}: no such socket: the daemon is not running`, remedy: new RegExp(`export ALPN_RESPONDER_CONTROL=${controlPath}`) },
    show(checks),
  );

  const second = await startDaemon(t);
  await writeFile(path.join(confD, 'alpn.sh'), `export ALPN_RESPONDER_CONTROL=${second.controlPath}\n`);
  const two = await doctor({ controlPath, dehydratedConfig: config });
  t.match(two.find((c) => c.title.includes('the hook deploys through')), { status: 'warn', title: new RegExp(`another daemon than the one checked at ${controlPath}`) }, show(two));
  t.notOk(two.some((c) => c.title.includes('deploy would fail')));

  await writeFile(path.join(confD, 'alpn.sh'), `export ALPN_RESPONDER_CONTROL=${controlPath}\n`);
  const same = await doctor({ controlPath, dehydratedConfig: config });
  t.notOk(same.some((c) => /deploy would fail|the hook deploys through/.test(c.title)), 'the same socket: nothing to add');
});

t.test('nginx holding a port: the line names its pid and process, and the run fails', requirePeers(t, ['nginx']), async (t) => {
  const { dir, controlPath } = await startDaemon(t);
  const nginx = await startNginx(t, { mode: 'snippet', http: (port) => `server { listen 127.0.0.1:${port}; return 204; }` });
  const checks = await doctor({ controlPath, listen: [{ host: '127.0.0.1', port: nginx.port }], dehydratedConfig: await goodConfig(dir) });
  const owner = lines(checks, 'port').find((c) => c.title.startsWith(`port ${nginx.port}:`));
  const match = /^port \d+: nginx \(pid (\d+)\) listens on 127\.0\.0\.1, not alpn-responder: the self-test via 127\.0\.0\.1:\d+ got "127\.0\.0\.1: Server only speaks HTTP, not TLS"$/.exec(owner?.title ?? '');
  t.ok(match, `names nginx and its pid: ${owner?.title}`);
  const pid = Number(match?.[1]);
  const { stdout: ppid } = await run('ps', ['-o', 'ppid=', '-p', String(pid)]);
  t.ok(pid === nginx.process.child.pid || Number(ppid.trim()) === nginx.process.child.pid, 'the pid is nginx\'s master or its worker');
  t.equal(owner?.status, 'fail');
  t.match(owner?.remedy, /docs\/layouts\.md/);
  t.match(lines(checks, 'self-test').find((c) => c.title.includes(`:${nginx.port}:`)), { status: 'fail', title: /Server only speaks HTTP/ });
  t.ok(checks.some((c) => c.status === 'fail'));
});

t.test('behind nginx stream: the front passes the self-test, the direct one is expected to fail', requirePeers(t, ['nginx']), async (t) => {
  const { daemon, dir, controlPath } = await startDaemon(t, { listen: [{ host: '127.0.0.1', port: 0 }], acceptProxyProtocol: true });
  const acme = daemon.listeners.addresses[0]!;
  const front = await startNginx(t, { mode: 'stream-front', acme, backend: { host: '127.0.0.1', port: 9 }, proxyProtocol: true });
  const checks = await doctor({ controlPath, listen: [{ host: '127.0.0.1', port: front.port }], dehydratedConfig: await goodConfig(dir) });
  t.same(checks.filter((c) => c.id !== 'ca-port' && c.status === 'fail'), [], show(checks));
  t.match(lines(checks, 'port').find((c) => c.title.startsWith(`port ${front.port}:`))?.title, /nginx \(pid \d+\) on 127\.0\.0\.1 passes acme-tls\/1 on to the daemon/);
  t.match(lines(checks, 'self-test').find((c) => c.title.includes(`:${acme.port}:`)), { status: 'warn', remedy: /--accept-proxy-protocol/ });
});

t.test('no daemon: ✗ control socket, quick and full', async (t) => {
  const dir = shortTempDir(t);
  for (const quick of [true, false]) {
    const checks = await doctor({ controlPath: path.join(dir, 'control.sock'), quick, dehydratedConfig: await goodConfig(dir) });
    t.match(checks[0], { id: 'control', status: 'fail', title: /no such socket: the daemon is not running/, remedy: /alpn-responder serve/ });
    t.ok(lines(checks, 'port').some((c) => c.title.startsWith('port 443:')), 'without the daemon\'s listeners, its default port is examined');
    t.equal(lines(checks, 'self-test').length, quick ? 0 : 1);
  }

  // A socket file left behind by a daemon that was killed.
  const stale = path.join(dir, 'stale.sock');
  const holder = spawnManaged('holder', process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('ready'))`]);
  t.teardown(() => holder.stop());
  await waitUntil('holder listening', () => (holder.output().includes('ready') ? true : undefined));
  holder.child.kill('SIGKILL');
  await holder.exited;
  t.match((await doctor({ controlPath: stale, quick: true }))[0]?.title, /nothing answers \(ECONNREFUSED\): a stale socket/);
  const file = path.join(dir, 'plain-file');
  await writeFile(file, '');
  t.match((await doctor({ controlPath: file, quick: true }))[0]?.title, /exists but is not a socket/);
});

const asRoot = process.getuid?.() === 0 ? requirePeers(t, ['runuser'], true) : { skip: 'needs root to run the doctor as another user' };
t.test('a user who may not use the socket is told which group to join', asRoot, async (t) => {
  const { daemon, dir, controlPath } = await startDaemon(t);
  await chmod(dir, 0o755);
  const port = daemon.listeners.addresses[0]!.port;
  const script = [
    `import { runDoctor } from ${JSON.stringify(path.join(REPO_ROOT, 'dist', 'diagnostics', 'doctor.js'))};`,
    `const checks = await runDoctor({ controlPath: ${JSON.stringify(controlPath)}, controlPathIsDefault: false, quick: true, listen: [{ host: '127.0.0.1', port: ${port} }] });`,
    'console.log(JSON.stringify(checks));',
  ].join('\n');
  const result = await run('runuser', ['-u', 'nobody', '--', process.execPath, '--input-type=module', '-e', script], { cwd: '/', timeoutMs: 15_000 });
  t.equal(result.code, 0, result.stderr);
  const checks = JSON.parse(result.stdout) as Check[];
  t.match(checks[0], {
    status: 'fail',
    title: /permission denied for user nobody/,
    remedy: new RegExp(`${controlPath} belongs to group root \\(mode 0660\\), which must not be handed out: restart the daemon with --control-group set to a group made for it`),
  });
  t.notMatch(checks[0]?.remedy, /usermod -aG root/, 'never: join group root');
  t.match(lines(checks, 'port')[0], { status: 'warn', title: /not root: process names hidden/ }, 'and the port owners it cannot see are said to be hidden');
});

/**
 * openssl s_server with an ordinary certificate that still negotiates acme-tls/1, on `accept` (`-4`/`-6`); `-www`
 * keeps it from reading stdin, whose end would stop it.
 */
async function startOpenssl(t: Test, dir: string, family: '-4' | '-6', accept: string) {
  const key = path.join(dir, 'web.key');
  const cert = path.join(dir, 'web.crt');
  const made = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=www.example.org', '-days', '1']);
  t.equal(made.code, 0, made.stderr);
  const server = spawnManaged('openssl', 'openssl', ['s_server', family, '-accept', accept, '-alpn', 'acme-tls/1', '-cert', cert, '-key', key, '-www']);
  t.teardown(() => server.stop());
  await waitUntil('openssl s_server accepting', () => (server.output().includes('ACCEPT') ? true : server.exitState() === undefined ? undefined : false));
  return server;
}

/** The built CLI's doctor: its exit code and what it printed. */
async function doctorCli(controlPath: string, config: string, extra: readonly string[] = []) {
  return run(process.execPath, [path.join(REPO_ROOT, 'dist', 'cli.js'), 'doctor', '--control', controlPath, '--dehydrated-config', config, ...extra], { timeoutMs: 60_000 });
}

t.test('the daemon on 127.0.0.1 and a high port: the built doctor says ✗ port 443, exit 1, quick too', async (t) => {
  const { dir, controlPath, daemon } = await startDaemon(t, { listen: [{ host: '127.0.0.1', port: 0 }] });
  const at = `127.0.0.1:${daemon.listeners.addresses[0]!.port}`;
  for (const extra of [[], ['--quick']]) {
    const result = await doctorCli(controlPath, await goodConfig(dir), extra);
    const output = result.stdout + result.stderr;
    // Nothing reachable on 443 here: refused. If something is (a peer's test holds it), the self-test through it
    // cannot reach this daemon (✗), and --quick, which cannot test it, warns (!).
    const refused = new RegExp(`^✗ port 443: the CA connects to port 443 only, and nothing listens there that it can reach \\(the daemon listens on ${at.replace(/\./g, '\\.')}\\): the CA would get "Connection refused"$`, 'm');
    const held = new RegExp(`^${extra.length === 0 ? '✗' : '!'} port 443: the CA connects to port 443 only, and the daemon listens on ${at.replace(/\./g, '\\.')}: `, 'm');
    if (refused.test(result.stdout)) {
      t.not(result.code, 0, output);
      t.notMatch(result.stdout, /nothing found that would make a validation fail/);
      t.match(result.stdout, /^ {4}→ Listen where the CA can connect|^ {4}→ Run the daemon with --listen '\[::\]:443', or put a front proxy on port 443/m);
    } else {
      t.match(result.stdout, held, `443 is held by another process here: ${output}`);
    }
  }
});

const splitFamily = (await hasIPv6Loopback()) ? requirePeers(t, ['openssl'], true) : { skip: 'needs an IPv6 loopback' };

t.test('split family: openssl on [::] (IPv6-only), the daemon on 0.0.0.0: ✗ with openssl\'s pid, exit 1', splitFamily, async (t) => {
  const port = await freePort(['127.0.0.1', '::1']);
  const dir = shortTempDir(t);
  const server = await startOpenssl(t, dir, '-6', `[::]:${port}`);
  const { controlPath } = await startDaemon(t, { listen: [{ host: '0.0.0.0', port }] });
  const result = await doctorCli(controlPath, await goodConfig(dir));
  t.equal(result.code, 1, result.stdout + result.stderr);
  t.match(result.stdout, new RegExp(`^✓ self-test via 127\\.0\\.0\\.1:${port}: the challenge certificate passes`, 'm'), 'the daemon itself is fine over IPv4');
  t.match(result.stdout, new RegExp(`^✗ port ${port}: openssl \\(pid ${server.child.pid}\\) listens on \\[::\\], not alpn-responder: the self-test via \\[::1\\]:${port} got "`, 'm'));
  t.match(result.stdout, new RegExp(`^✗ self-test via \\[::1\\]:${port}: Incorrect validation certificate`, 'm'));
  t.notMatch(result.stdout, /passes acme-tls\/1 on to the daemon/, 'no pass for a socket no self-test went through');
  t.notMatch(result.stdout, /nothing found that would make a validation fail/);
  t.notMatch(result.stdout, /run `alpn-responder doctor`|Run `alpn-responder doctor`/, 'doctor does not send you to doctor');

  const quick = await doctorCli(controlPath, await goodConfig(dir), ['--quick']);
  t.equal(quick.code, 1, quick.stdout + quick.stderr);
  t.match(quick.stdout, new RegExp(`^✗ port ${port}: openssl \\(pid ${server.child.pid}\\) listens on \\[::\\], not alpn-responder$`, 'm'), '--quick: no self-test, no pass');
});

t.test('split family reversed: openssl on 0.0.0.0, the daemon on [::1]: ✗ through IPv4, exit 1', splitFamily, async (t) => {
  const port = await freePort(['127.0.0.1', '::1']);
  const dir = shortTempDir(t);
  const server = await startOpenssl(t, dir, '-4', `0.0.0.0:${port}`);
  const { controlPath } = await startDaemon(t, { listen: [{ host: '::1', port }] });
  const result = await doctorCli(controlPath, await goodConfig(dir));
  t.equal(result.code, 1, result.stdout + result.stderr);
  t.match(result.stdout, new RegExp(`^✓ self-test via \\[::1\\]:${port}: the challenge certificate passes`, 'm'));
  t.match(result.stdout, new RegExp(`^✗ port ${port}: openssl \\(pid ${server.child.pid}\\) listens on 0\\.0\\.0\\.0, not alpn-responder: the self-test via 127\\.0\\.0\\.1:${port} got "`, 'm'));
  t.notMatch(result.stdout, /passes acme-tls\/1 on to the daemon/);
});

t.test('a host without IPv6 loopback: the [::] socket is reported untested, never passed', requirePeers(t, ['openssl']), async (t) => {
  const port = await freePort(['127.0.0.1', '::1']);
  const dir = shortTempDir(t);
  await startOpenssl(t, dir, '-6', `[::]:${port}`);
  const { controlPath } = await startDaemon(t, { listen: [{ host: '0.0.0.0', port }] });
  const lo = [{ address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '255.0.0.0', mac: '', cidr: null }] as const;
  const checks = await doctor({ controlPath, dehydratedConfig: await goodConfig(dir), interfaces: { lo: [...lo] } });
  const line = lines(checks, 'port').find((c) => c.title.includes('openssl'));
  t.match(line?.title, /listens on \[::\], not alpn-responder as far as can be told: not tested, this host has no IPv6 loopback \(::1\)/, show(checks));
  t.not(line?.status, 'pass');
  t.notOk(lines(checks, 'self-test').some((c) => c.title.includes('[::1]')), 'no self-test over IPv6 was run');
});

t.test('--quick: the state directory must be writable by the user the daemon serves as', async (t) => {
  const { dir, controlPath } = await startDaemon(t);
  const stateDir = path.join(dir, 'state');
  await mkdir(stateDir, { mode: 0o755 });
  await chmod(dir, 0o755);
  const nobody = await doctor({ controlPath, quick: true, state: path.join(stateDir, 'state.json'), user: 'nobody' });
  t.match(lines(nobody, 'state'), [
    { status: 'fail', title: new RegExp(`--user nobody \\(uid \\d+, gid \\d+\\) cannot write ${stateDir} \\(owner 0:0, mode 0755\\)`), remedy: /^chown \d+:\d+ / },
  ]);
  const self = await doctor({ controlPath, quick: true, state: path.join(stateDir, 'state.json') });
  t.match(lines(self, 'state'), [{ status: process.getuid?.() === 0 ? 'pass' : 'fail' }], 'without --user: the doctor\'s own user');
  const missing = await doctor({ controlPath, quick: true, state: path.join(dir, 'no', 'state.json'), user: 'nobody' });
  t.match(lines(missing, 'state'), [{ status: 'fail', title: /no does not exist/, remedy: /^Create it/ }]);
  const unknown = await doctor({ controlPath, quick: true, state: path.join(stateDir, 'state.json'), user: 'no-such-user-13' });
  t.match(lines(unknown, 'state'), [{ status: 'fail', title: /no user "no-such-user-13"/ }]);
});
