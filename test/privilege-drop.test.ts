/**
 * `serve --user`: started as root, the built daemon opens its sockets and then becomes another account for good.
 * Needs root (CI runs as root); skipped otherwise.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, readFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI_PATH, GiveUp, cleanEnv, controlRequest, logField, requirePeers, run, spawnManaged, waitUntil } from './helpers/daemon.js';
import { caVerdict } from './helpers/ca-check.js';
import { shortTempDir } from './helpers/tmp.js';
import { untilEveryWorker, workerPids } from './helpers/workers.js';

const isRoot = process.getuid?.() === 0;
const NAME = 'dropped.example.test';
const digest = createHash('sha256').update(`token.${'B'.repeat(43)}`).digest();

/** uid and gid of an account as `id` reports them, independently of the code under test. */
async function ids(user: string, group: string): Promise<{ uid: number; gid: number }> {
  const uid = await run('id', ['-u', user]);
  const gid = await run('getent', ['group', group]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.split(':')[2]) };
}

/** The Uid:, Gid: and Groups: lines of /proc/PID/status. */
async function credentials(pid: number): Promise<{ uid: string[]; gid: string[]; groups: string[] }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): string[] => (new RegExp(`^${name}:(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter((v) => v !== '');
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

t.test('--user nobody:nogroup: sockets opened as root, then served as nobody', isRoot ? requirePeers(t, ['getent', 'id'], true) : { skip: 'needs root (CI runs as root)' }, async (t) => {
  const { uid, gid } = await ids('nobody', 'nogroup');
  const dir = shortTempDir(t);
  // nobody must be able to reach the directory the daemon creates for its control socket, and to remove the socket.
  await chmod(dir, 0o755);
  const control = path.join(dir, 'run', 'c.sock');
  const proc = spawnManaged('alpn-responder', process.execPath, [CLI_PATH, 'serve', '--user', 'nobody:nogroup', '--listen', '127.0.0.1:0', '--control', control, '--workers', '1'], { env: cleanEnv(), cwd: dir });
  t.teardown(() => proc.stop());
  const lines = (): string[] => proc.output().split('\n');
  await waitUntil('event=ready', () => {
    if (lines().some((l) => / event=ready /.test(l))) return true;
    if (proc.exitState() !== undefined) throw new GiveUp(`daemon exited (${proc.exitState()}):\n${proc.output()}`);
    return undefined;
  });
  const events = lines().map((l) => logField(l, 'event'));
  t.ok(events.indexOf('privileges-dropped') > events.indexOf('control-listening') && events.indexOf('privileges-dropped') < events.indexOf('ready'), 'dropped after binding, before ready');

  const pid = proc.child.pid!;
  t.same(await credentials(pid), { uid: Array(4).fill(String(uid)), gid: Array(4).fill(String(gid)), groups: [] }, 'real, effective, saved and fs ids are nobody/nogroup; no supplementary groups');
  const socket = statSync(control);
  t.same({ uid: socket.uid, gid: socket.gid, mode: socket.mode & 0o777 }, { uid, gid, mode: 0o660 }, 'control socket owned by nobody:nogroup');
  const socketDir = statSync(path.dirname(control));
  t.same({ uid: socketDir.uid, gid: socketDir.gid, mode: socketDir.mode & 0o777 }, { uid: 0, gid: 0, mode: 0o755 }, 'the directory the daemon created stays root\'s: nobody cannot swap the socket');

  const port = Number(logField(lines().find((l) => / event=listening /.test(l)) ?? '', 'port'));
  t.match((await controlRequest(control, `deploy ${NAME} ${digest.toString('hex')}`))[0], /^OK deployed /);
  t.same(await caVerdict({ host: '127.0.0.1', port }, NAME, digest), { ok: true }, 'deploy + handshake work as nobody');

  t.equal(await proc.stop(), 0, 'SIGTERM: clean exit');
  t.ok(existsSync(control), 'nobody cannot remove its socket from root\'s directory: it stays behind');

  // The next start, as root, replaces the stale socket.
  const again = spawnManaged('alpn-responder', process.execPath, [CLI_PATH, 'serve', '--user', 'nobody:nogroup', '--listen', '127.0.0.1:0', '--control', control, '--workers', '1'], { env: cleanEnv(), cwd: dir });
  t.teardown(() => again.stop());
  await waitUntil('event=ready after restart', () => {
    if (/ event=ready /.test(again.output())) return true;
    if (again.exitState() !== undefined) throw new GiveUp(`daemon exited (${again.exitState()}):\n${again.output()}`);
    return undefined;
  });
  t.match((await controlRequest(control, 'status'))[0], /^OK /, 'the restarted daemon answers on the replaced socket');
  t.equal(await again.stop(), 0, 'SIGTERM: clean exit');
});

t.test('--user with --workers 2: each worker drops root, then listens on the sockets the primary (still root) opens; the primary drops once all are ready', isRoot ? requirePeers(t, ['getent', 'id'], true) : { skip: 'needs root (CI runs as root)' }, async (t) => {
  const { uid, gid } = await ids('nobody', 'nogroup');
  const dir = shortTempDir(t);
  await chmod(dir, 0o755);
  const control = path.join(dir, 'run', 'c.sock');
  const proc = spawnManaged('alpn-responder', process.execPath, [CLI_PATH, 'serve', '--user', 'nobody:nogroup', '--listen', '127.0.0.1:0', '--control', control, '--workers', '2'], { env: cleanEnv(), cwd: dir });
  t.teardown(() => proc.stop());
  const lines = (): string[] => proc.output().split('\n').filter((l) => l !== '');
  await waitUntil('event=ready', () => {
    if (lines().some((l) => / event=ready /.test(l))) return true;
    if (proc.exitState() !== undefined) throw new GiveUp(`daemon exited (${proc.exitState()}):\n${proc.output()}`);
    return undefined;
  });
  const at = (event: string, worker?: string): number => lines().findIndex((l) => logField(l, 'event') === event && logField(l, 'worker') === worker);
  const workers = workerPids(lines);
  t.same([...workers.keys()].sort(), ['1', '2'], 'two workers ready');
  for (const [worker, pid] of workers) {
    t.ok(at('privileges-dropped', worker) >= 0 && at('privileges-dropped', worker) < at('listening', worker), `worker ${worker} dropped root before it listened`);
    t.ok(at('listening', worker) < at('worker-ready', worker), `worker ${worker} listened before it reported ready`);
    t.same(await credentials(pid), { uid: Array(4).fill(String(uid)), gid: Array(4).fill(String(gid)), groups: [] }, `worker ${worker} (pid ${pid}) runs as nobody/nogroup`);
  }
  const primaryDrop = at('privileges-dropped');
  t.ok(primaryDrop > Math.max(at('worker-ready', '1'), at('worker-ready', '2')) && primaryDrop < at('ready'), 'the primary dropped after every worker-ready, before ready');
  t.same(await credentials(proc.child.pid!), { uid: Array(4).fill(String(uid)), gid: Array(4).fill(String(gid)), groups: [] }, 'the primary runs as nobody/nogroup');

  const port = Number(logField(lines().find((l) => / event=listening /.test(l)) ?? '', 'port'));
  t.match((await controlRequest(control, `deploy ${NAME} ${digest.toString('hex')}`))[0], /^OK deployed /);
  const { total: handshakes, failures } = await untilEveryWorker({ to: { host: '127.0.0.1', port }, lines }, NAME, ['1', '2'], { digest });
  t.same(failures, [], `all ${handshakes} handshakes, served by both workers as nobody, pass the CA's checks`);

  t.equal(await proc.stop(), 0, 'SIGTERM: clean exit');
  t.ok(existsSync(control), 'nobody cannot remove its socket from root\'s directory: it stays behind');
});

t.test('--user when not root is refused before anything is bound', isRoot ? requirePeers(t, ['id'], true) : { skip: 'needs root to start a process as nobody' }, async (t) => {
  const { uid, gid } = await ids('nobody', 'nogroup');
  const dir = shortTempDir(t);
  await chmod(dir, 0o777);
  const control = path.join(dir, 'c.sock');
  const result = await run(process.execPath, [CLI_PATH, 'serve', '--user', 'nobody', '--listen', '127.0.0.1:0', '--control', control], { env: cleanEnv(), uid, gid, timeoutMs: 15_000 });
  t.equal(result.code, 1);
  t.match(result.stderr, /ERR_USER_NEEDS_ROOT: --user nobody needs the daemon started as root, but it runs as uid \d+/);
  t.notOk(existsSync(control), 'no control socket created');
});

t.test('an unknown --user is refused before anything is bound', requirePeers(t, [], true), async (t) => {
  const dir = shortTempDir(t);
  const control = path.join(dir, 'c.sock');
  const result = await run(process.execPath, [CLI_PATH, 'serve', '--user', 'no-such-user-here', '--listen', '127.0.0.1:0', '--control', control], { env: cleanEnv(), timeoutMs: 15_000 });
  t.equal(result.code, 2);
  t.match(result.stderr, /ERR_BAD_OPTION --user "no-such-user-here": .*no user "no-such-user-here" in \/etc\/passwd/);
  t.notOk(existsSync(control), 'no control socket created');
});

t.test('ALPN_RESPONDER_USER works like --user', requirePeers(t, [], true), async (t) => {
  const result = await run(process.execPath, [CLI_PATH, 'serve', '--listen', '127.0.0.1:0', '--control', path.join(shortTempDir(t), 'c.sock')], {
    env: cleanEnv({ ALPN_RESPONDER_USER: 'no-such-user-here' }),
    timeoutMs: 15_000,
  });
  t.match(result.stderr, /ERR_BAD_OPTION --user "no-such-user-here" \(from ALPN_RESPONDER_USER\)/);
});
