/**
 * Children of the tests start without tap's hooks: tap's NODE_OPTIONS import of @tapjs/processinfo would make
 * every Node child record coverage and start about twice as slowly.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { run, spawnManaged, withoutTapHooks } from './daemon.js';

const PRINT = 'process.stdout.write(JSON.stringify([process.env.NODE_OPTIONS ?? null, Object.keys(process.env).filter((k) => k.startsWith("_TAPJS_PROCESSINFO_"))]))';

t.test('withoutTapHooks drops tap\'s imports and settings and keeps the rest', async (t) => {
  const env = {
    NODE_OPTIONS: '--max-old-space-size=256 "--import=file:///x/node_modules/@tapjs/processinfo/dist/esm/import.mjs" --import @tapjs/typescript/import --enable-source-maps "--title=a b"',
    _TAPJS_PROCESSINFO_ROOT_: 'x',
    PATH: '/bin',
  };
  t.same(withoutTapHooks(env), { NODE_OPTIONS: '--max-old-space-size=256 --import @tapjs/typescript/import --enable-source-maps "--title=a b"', PATH: '/bin' });
  t.same(withoutTapHooks({ NODE_OPTIONS: '"--import=file:///x/@tapjs/processinfo/import.mjs"', PATH: '/bin' }), { PATH: '/bin' }, 'nothing left: no NODE_OPTIONS at all');
  t.same(withoutTapHooks({ PATH: '/bin' }), { PATH: '/bin' });
});

// Under tap this process has them; the check means something only then.
const underProcessinfo = (process.env.NODE_OPTIONS ?? '').includes('@tapjs/processinfo');
t.test('a child has no tap hooks, even given this process\'s environment', { skip: underProcessinfo ? false : 'not run by tap with @tapjs/processinfo' }, async (t) => {
  const viaRun = await run(process.execPath, ['-e', PRINT], { env: { ...process.env } });
  t.equal(viaRun.code, 0, viaRun.stderr);
  t.same(JSON.parse(viaRun.stdout), [null, []], 'run(): no NODE_OPTIONS, no processinfo settings');
  const managed = spawnManaged('printer', process.execPath, ['-e', PRINT]);
  await managed.exited;
  t.same(JSON.parse(managed.output()), [null, []], 'spawnManaged(): the same');
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', PRINT]);
  t.same(JSON.parse(stdout), [null, []], 'a plain execFile too');
});

t.test('run() kills a command only after it has been silent for its limit, however long it runs in all', async (t) => {
  // A line every 0.1 s for 1.5 s in all: a 0.5 s silence limit is never met.
  const talker = await run('bash', ['-c', 'for i in {1..15}; do echo $i; sleep 0.1; done'], { timeoutMs: 500 });
  t.equal(talker.code, 0, talker.stderr);
  t.equal(talker.stdout.trim().split('\n').length, 15);
  const silent = await run('bash', ['-c', 'echo started; sleep 60'], { timeoutMs: 300 });
  t.equal(silent.code, 'SIGKILL');
  t.match(silent.stderr, /\[killed: no output for 300 ms; .* hung\]/);
});
