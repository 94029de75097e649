/**
 * `serve --state` with `--user`, as root, attacked the ways the outside review did (issue 12, item 1): the state
 * file is read and written only as the serving user, never through a link, and a state directory that user cannot
 * write stops start-up. A root-only victim file must stay byte-identical in each case. Needs root (CI runs as root).
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI_PATH, GiveUp, cleanEnv, controlRequest, requirePeers, run, spawnManaged, waitUntil } from '../helpers/daemon.js';
import { shortTempDir } from '../helpers/tmp.js';

const isRoot = process.getuid?.() === 0;
const options = isRoot ? requirePeers(t, ['id'], true) : { skip: 'needs root (CI runs as root)' };
const SECRET = 'root:$y$j9T$notarealhash:19000:0:99999:7:::\n';
/** Links planted: the daemon's pid must be among them even with other processes starting meanwhile. */
const PLANTED = 3000;
const digest = createHash('sha256').update(`token.${'C'.repeat(43)}`).digest('hex');

/** A root-only file outside the state directory, and a check that it is byte-identical and still root's. */
function victim(t: Test): { file: string; intact: () => boolean } {
  const dir = shortTempDir(t);
  const file = path.join(dir, 'shadow');
  writeFileSync(file, SECRET, { mode: 0o600 });
  return { file, intact: () => readFileSync(file, 'utf8') === SECRET && lstatSync(file).uid === 0 && (lstatSync(file).mode & 0o777) === 0o600 };
}

async function nobody(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([run('id', ['-u', 'nobody']), run('id', ['-g', 'nobody'])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** A state directory the test can reach as nobody, and a control socket path in it. */
function layout(t: Test, owner?: { uid: number; gid: number }): { dir: string; state: string; control: string } {
  const dir = shortTempDir(t);
  chmodSync(dir, 0o755);
  if (owner !== undefined) chownSync(dir, owner.uid, owner.gid);
  return { dir, state: path.join(dir, 'state.json'), control: path.join(dir, 'c.sock') };
}

function serveArgs(state: string, control: string, workers = '1'): string[] {
  return [CLI_PATH, 'serve', '--user', 'nobody', '--listen', '127.0.0.1:0', '--control', control, '--workers', workers, '--state', state];
}

for (const workers of ['1', '2']) {
  t.test(`a state directory the --user account cannot write: serve --workers ${workers} exits non-zero at start, before ready`, { ...options }, async (t) => {
    const target = victim(t);
    const { dir, state, control } = layout(t);
    const result = await run(process.execPath, serveArgs(state, control, workers), { env: cleanEnv(), cwd: dir, timeoutMs: 60_000 });
    const output = result.stdout + result.stderr;
    t.not(result.code, 0, 'non-zero exit');
    t.match(output, /ERR_STATE_WRITE_FAILED|state-write-failed/, 'says the state could not be written');
    t.match(output, /EACCES/, 'with the system\'s reason');
    if (workers === '1') {
      t.match(output, /\n {2}The daemon serves as --user nobody \(uid \d+, gid \d+\): make \S+ exist and be writable by that account .*then start the daemon again\.\n/, 'the remedy names the --user account and says to start again');
      t.notMatch(output, /deploy again/);
      t.notMatch(output, /event=state-loaded/, 'no state-loaded right before the failure');
    }
    t.notMatch(output, / event=ready /, 'never ready');
    t.same(readdirSync(dir).filter((name) => name !== 'c.sock'), [], 'nothing was written there (as root)');
    t.ok(target.intact());
  });
}

t.test('a state path that is a link to a root-only file: refused (ERR_STATE_SYMLINK), nothing of the file logged', { ...options }, async (t) => {
  const target = victim(t);
  const owner = await nobody();
  const { dir, state, control } = layout(t, owner);
  symlinkSync(target.file, state);
  const result = await run(process.execPath, serveArgs(state, control), { env: cleanEnv(), cwd: dir, timeoutMs: 60_000 });
  const output = result.stdout + result.stderr;
  t.not(result.code, 0, 'non-zero exit');
  t.match(output, /ERR_STATE_SYMLINK|symbolic link/);
  t.notMatch(output, /root:|\$y\$|notarealhash/, 'no byte of the target reaches the log');
  t.notMatch(output, / event=ready /);
  t.ok(lstatSync(state).isSymbolicLink(), 'the link is left in place, not moved aside');
  t.ok(target.intact(), 'the victim is byte-identical');
});

t.test('links planted at the temp names of the next pids, and a stale temp file: the victim is untouched, the stale file removed', { ...options }, async (t) => {
  const target = victim(t);
  const owner = await nobody();
  const { dir, state, control } = layout(t, owner);
  // The review's attack by the --user account, which owns the directory: links at <state>.tmp-<pid> for the pids
  // the daemon may get, before it starts.
  const last = Number(readFileSync('/proc/sys/kernel/ns_last_pid', 'utf8'));
  for (let pid = last + 1; pid <= last + PLANTED; pid++) symlinkSync(target.file, `${state}.tmp-${pid}`);
  const stale = `${state}.tmp-0123456789abcdef`;
  writeFileSync(stale, '{"version":1,');
  chownSync(stale, owner.uid, owner.gid);
  const proc = spawnManaged('alpn-responder', process.execPath, serveArgs(state, control), { env: cleanEnv(), cwd: dir });
  t.teardown(() => proc.stop());
  await waitUntil('event=ready', () => {
    if (/ event=ready /.test(proc.output())) return true;
    if (proc.exitState() !== undefined) throw new GiveUp(`daemon exited (${proc.exitState()}):\n${proc.output()}`);
    return undefined;
  }, 60_000);
  t.ok(proc.child.pid! > last && proc.child.pid! <= last + PLANTED, `the daemon's pid ${proc.child.pid} is among the planted ones`);
  t.match((await controlRequest(control, `deploy planted.example.test ${digest}`))[0], /^OK deployed /);
  t.match((await controlRequest(control, 'clean planted.example.test'))[0], /^OK cleaned /);
  t.equal(await proc.stop(), 0);
  t.ok(target.intact(), 'the victim is byte-identical');
  const file = lstatSync(state);
  t.ok(file.isFile(), 'the state file is a regular file');
  t.same({ uid: file.uid, mode: file.mode & 0o777 }, { uid: owner.uid, mode: 0o600 }, 'written by the --user account, mode 0600');
  t.match(proc.output(), /event=state-temp-removed .*0123456789abcdef/, 'the stale temp file was removed, and said so');
  const left = readdirSync(dir).filter((name) => name.startsWith('state.json.tmp-'));
  t.equal(left.length, PLANTED, 'only the planted links are left');
  t.ok(left.every((name) => lstatSync(path.join(dir, name)).isSymbolicLink()));
});
