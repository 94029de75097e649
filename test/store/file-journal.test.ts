/**
 * The state file is never opened through a link, its temp file is created exclusively under an unpredictable name,
 * and stale temp files are removed only when they are plain files (issue 12, item 1). Each attack has a victim file
 * that must stay byte-identical.
 */
import t, { type Test } from 'tap';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FileJournal } from '../../src/store/file-journal.js';
import { shortTempDir } from '../helpers/tmp.js';

const SECRET = 'root:$y$j9T$notarealhash:19000:0:99999:7:::\n';

/** A file outside the state directory that the attacks aim at. */
function victim(t: Test): { file: string; intact: () => boolean } {
  const dir = shortTempDir(t);
  const file = path.join(dir, 'shadow');
  writeFileSync(file, SECRET, { mode: 0o600 });
  return { file, intact: () => readFileSync(file, 'utf8') === SECRET };
}

t.test('a link planted at the daemon\'s old temp name (<state>.tmp-<pid>) is not written through', async (t) => {
  const target = victim(t);
  const dir = shortTempDir(t);
  const file = path.join(dir, 'state.json');
  // The review's attack: links for this pid and the next few hundred, planted before the daemon writes.
  for (let pid = process.pid; pid < process.pid + 300; pid++) symlinkSync(target.file, `${file}.tmp-${pid}`);
  const journal = new FileJournal(file);
  await journal.write('{"version":1,"challenges":[]}\n');
  t.ok(target.intact(), 'the victim is byte-identical');
  t.equal(readFileSync(file, 'utf8'), '{"version":1,"challenges":[]}\n', 'the state file was written');
  t.ok(lstatSync(file).isFile() && !lstatSync(file).isSymbolicLink(), 'as a regular file');
  t.equal(readlinkSync(`${file}.tmp-${process.pid}`), target.file, 'the planted link is left as it was');
});

t.test('a temp name is random; a link planted at the very name chosen makes the write pick another', async (t) => {
  const target = victim(t);
  const dir = shortTempDir(t);
  const file = path.join(dir, 'state.json');
  const names = ['aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb'];
  symlinkSync(target.file, `${file}.tmp-${names[0]}`);
  const used: string[] = [];
  const journal = new FileJournal(file, {
    tempSuffix: () => {
      const name = names[used.length] ?? 'cccccccccccccccc';
      used.push(name);
      return name;
    },
  });
  await journal.write('new\n');
  t.ok(target.intact(), 'the victim is byte-identical');
  t.same(used, names, 'the planted name was refused (O_EXCL), the next one used');
  t.equal(readFileSync(file, 'utf8'), 'new\n');

  // Every name planted: the write fails, and still nothing is written through a link.
  const planted = new FileJournal(file, { tempSuffix: () => names[0]! });
  await t.rejects(planted.write('other\n'), { code: 'ERR_STATE_WRITE_FAILED' });
  t.ok(target.intact(), 'the victim is byte-identical');
  t.equal(readFileSync(file, 'utf8'), 'new\n', 'the old state file is untouched');
  t.ok(existsSync(`${file}.tmp-${names[0]}`), 'the planted link is not removed by the failed write');

  const random = new FileJournal(path.join(dir, 'other.json'));
  const before = new Set(readdirSync(dir));
  await random.write('x\n');
  t.same(readdirSync(dir).filter((name) => !before.has(name)), ['other.json'], 'no temp file stays');
});

t.test('a state path that is a link is refused with ERR_STATE_SYMLINK, and the target is not read', async (t) => {
  const target = victim(t);
  const dir = shortTempDir(t);
  const file = path.join(dir, 'state.json');
  symlinkSync(target.file, file);
  const error = await new FileJournal(file).read().then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string },
  );
  t.equal(error?.code, 'ERR_STATE_SYMLINK');
  t.notMatch(error?.message ?? '', /root|\$y\$/, 'the message quotes nothing of the target');
  t.ok(target.intact());
  const dangling = path.join(dir, 'dangling.json');
  symlinkSync(path.join(dir, 'missing'), dangling);
  await t.rejects(new FileJournal(dangling).read(), { code: 'ERR_STATE_SYMLINK' }, 'a dangling link too');
});

t.test('stale temp files: plain files of the exact pattern are removed; links and anything else stay', async (t) => {
  const target = victim(t);
  const dir = shortTempDir(t);
  const file = path.join(dir, 'state.json');
  writeFileSync(file, '{}');
  const stale = ['state.json.tmp-1234', 'state.json.tmp-0123456789abcdef'];
  for (const name of stale) writeFileSync(path.join(dir, name), 'half-written');
  const kept = ['state.json.tmp-4321', 'state.json.tmp-12ab', 'state.json.tmp-0123456789ABCDEF', 'state.json.tmp-', 'other.json.tmp-99', 'state.json.tmp-77', 'xstate.json.tmp-1'];
  symlinkSync(target.file, path.join(dir, kept[0]!));
  for (const name of kept.slice(1, 5)) writeFileSync(path.join(dir, name), 'not ours');
  mkdirSync(path.join(dir, kept[5]!));
  writeFileSync(path.join(dir, kept[6]!), 'not ours');
  const removed = await new FileJournal(file).removeStaleTemps();
  t.same(removed.sort(), [...stale].sort());
  t.same(readdirSync(dir).sort(), ['state.json', ...kept].sort(), 'everything else is still there');
  t.equal(readlinkSync(path.join(dir, kept[0]!)), target.file, 'the link is left as it was');
  t.ok(target.intact(), 'the victim is byte-identical');
});
