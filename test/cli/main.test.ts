import os from 'node:os';
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { Daemon } from '../../src/daemon.js';
import { testDaemonOptions } from '../helpers/daemon-options.js';
import { silentLogger } from '../../src/log.js';
import { shortTempDir } from '../helpers/tmp.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const digest = 'ab:'.repeat(31) + 'ab';

function capture() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) } },
  };
}

t.test('client commands talk to a running daemon and map replies to exit codes', async (t) => {
  const dir = shortTempDir(t);
  const control = path.join(dir, 'c.sock');
  const daemon = await Daemon.start(testDaemonOptions(dir, { listen: [{ host: '127.0.0.1', port: 0 }], controlPath: control, controlMode: 0o600 }), silentLogger);
  t.teardown(() => daemon.close());
  let c = capture();
  t.equal(await main(['deploy', 'a.example.test', digest, '--ttl', '120', '--control', control], c.io), 0);
  t.match(c.out.stdout, /^deployed a\.example\.test expires /);
  c = capture();
  t.equal(await main(['list', '--control', control], c.io), 0);
  t.match(c.out.stdout, /^a\.example\.test (ab){32} \S+Z 0\n$/);
  c = capture();
  t.equal(await main(['status', '--control', control], c.io), 0);
  t.match(c.out.stdout, /challenges=1/);
  c = capture();
  t.equal(await main(['deploy', 'bad_name', digest, '--control', control], c.io), 1);
  t.match(c.out.stderr, /ERR bad-identifier/);
  c = capture();
  const env = { ALPN_RESPONDER_CONTROL: control, ALPN_RESPONDER_TRANSPORT: 'nc', ALPN_RESPONDER_LISTEN: '1.2.3.4:5' };
  t.equal(await main(['clean', 'a.example.test'], c.io, env), 0, 'socket path from the environment, unknown variables ignored');
  t.equal(c.out.stdout, 'cleaned a.example.test\n');
});

t.test('usage errors and unreachable daemons', async (t) => {
  let c = capture();
  t.equal(await main([], c.io), 2);
  t.match(c.out.stderr, /name a command/);
  c = capture();
  t.equal(await main(['frob'], c.io), 2);
  c = capture();
  t.equal(await main(['status', '--bogus'], c.io), 2, 'unknown flags on the command line are still refused');
  t.match(c.out.stderr, /Unknown argument: bogus/);
  c = capture();
  t.equal(await main(['status', '--control', '/nonexistent/x.sock'], c.io), 3);
  t.match(c.out.stderr, /ERR_CONTROL_UNREACHABLE/);
  c = capture();
  t.equal(await main(['serve', '--listen', 'nonsense', '--control', '/nonexistent/x.sock'], c.io), 2);
  const doctorUsage = capture();
  t.equal(await main(['doctor', '--listen', 'foo', '--quick'], doctorUsage.io), 2, 'doctor --listen foo: a usage error, exit 2');
  t.match(doctorUsage.out.stderr, /^alpn-responder: ERR_BAD_LISTEN_ADDRESS: "foo" is not HOST:PORT/);
  t.equal(c.out.stderr, 'alpn-responder: ERR_BAD_OPTION --listen "nonsense": IP:PORT, IPv6 in brackets, such as 0.0.0.0:443 or [::]:443 ("nonsense" is not HOST:PORT; write IPv6 in brackets, e.g. [::]:443, 0.0.0.0:443, [::1]:8443)\n', 'one line');
});

t.test('the built binary, with --workers auto (a worker per CPU), serves until SIGTERM and exits 0', async (t) => {
  const dir = shortTempDir(t);
  const control = path.join(dir, 'c.sock');
  const child = spawn(process.execPath, [path.join(root, 'dist/cli.js'), 'serve', '--control', control, '--workers', 'auto'], {
    env: { ...process.env, ALPN_RESPONDER_LISTEN: '127.0.0.1:0 [::1]:0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d) => {
      log += d;
      if (log.includes('event=ready')) resolve();
    });
    child.on('exit', () => reject(new Error(`exited early:\n${log}`)));
  });
  const workers = Math.min(os.availableParallelism(), 64);
  t.match(log, new RegExp(`event=ready version=\\S+ workers=${workers} `));
  for (let id = 1; id <= workers; id++) {
    // One CPU: one process, whose lines name no worker.
    const tag = workers > 1 ? `worker=${id} ` : '';
    t.match(log, new RegExp(`event=listening ${tag}address=127\\.0\\.0\\.1 port=\\d+`));
    t.match(log, new RegExp(`event=listening ${tag}address=::1 port=\\d+`));
  }
  const c = capture();
  t.equal(await main(['status', '--control', control], c.io), 0);
  t.match(c.out.stdout, new RegExp(` workers=${workers} `));
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  t.equal(code, 0);
  t.match(log, /event=stopped/);
});

t.test('--help and --version from the built binary', async (t) => {
  const run = async (arg: string) => {
    const child = spawn(process.execPath, [path.join(root, 'dist/cli.js'), arg], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    const [code] = await once(child, 'exit');
    return { code, text };
  };
  const version = await run('--version');
  t.same(version.code, 0);
  t.match(version.text, /^\d+\.\d+\.\d+\n$/);
  const help = await run('--help');
  t.same(help.code, 0);
  for (const command of ['serve', 'deploy', 'clean', 'list', 'status']) t.match(help.text, new RegExp(`alpn-responder ${command}`));
});

const asRoot = process.getuid?.() === 0 ? {} : { skip: 'needs root to run the CLI as another user' };
t.test('status denied by the socket\'s mode: a permission problem, not "start the daemon"', asRoot, async (t) => {
  const dir = shortTempDir(t);
  const { chmod } = await import('node:fs/promises');
  await chmod(dir, 0o755);
  const control = path.join(dir, 'c.sock');
  const daemon = await Daemon.start(testDaemonOptions(dir, { listen: [{ host: '127.0.0.1', port: 0 }], controlPath: control, controlMode: 0o660, controlGid: 0 }), silentLogger);
  t.teardown(() => daemon.close());
  const child = spawn('runuser', ['-u', 'nobody', '--', process.execPath, path.join(root, 'dist', 'cli.js'), 'status', '--control', control], { cwd: '/' });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number];
  t.equal(code, 3, stderr);
  t.match(stderr, new RegExp(`ERR_CONTROL_UNREACHABLE: permission denied on ${control.replace(/[.]/g, '\\.')} for nobody \\(uid \\d+, groups [\\d,]+\\); the socket belongs to uid 0, gid 0, mode 0660\\n`));
  t.match(stderr, /^ {2}A permission problem, not a stopped daemon: .*usermod -aG GROUP nobody/m);
  t.notMatch(stderr, /Start the daemon/);
});

t.test('deploy --ttl takes serve\'s duration syntax and sends whole seconds', async (t) => {
  const dir = shortTempDir(t);
  const control = path.join(dir, 'c.sock');
  const daemon = await Daemon.start(testDaemonOptions(dir, { listen: [{ host: '127.0.0.1', port: 0 }], controlPath: control, controlMode: 0o600 }), silentLogger);
  t.teardown(() => daemon.close());
  // What reaches the daemon is the deploy line with whole seconds: its reply's expiry is the deploy's own clock
  // plus the TTL, so compare the two replies of deploys sent one after the other.
  const replies: string[] = [];
  for (const ttl of ['3600', '1h', '60m']) {
    const c = capture();
    t.equal(await main(['deploy', `t${replies.length}.example.test`, digest, '--ttl', ttl, '--control', control], c.io), 0, c.out.stderr);
    replies.push(c.out.stdout);
  }
  const expiry = (reply: string) => Date.parse(/expires (\S+)/.exec(reply)?.[1] ?? '');
  const [plain, hour, minutes] = replies.map(expiry) as [number, number, number];
  t.ok(hour >= plain && minutes >= hour, `1h and 60m are 3600 s: ${replies.join(' | ')}`);
  t.ok(hour - plain < 3600_000 && minutes - plain < 3600_000, 'not 3600 hours or minutes');
  const bad = capture();
  t.equal(await main(['deploy', 'x.example.test', digest, '--ttl', '1x', '--control', control], bad.io), 2);
  t.equal(bad.out.stderr, 'alpn-responder: ERR_BAD_OPTION --ttl "1x": a duration from 1s to 168h such as 3600s or 1h (a bare number is seconds)\n');
  const c = capture();
  await main(['list', '--control', control], c.io);
  t.notMatch(c.out.stdout, /x\.example\.test/, 'nothing sent for the bad one');
});
