import t, { type Test } from 'tap';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { digestToHex } from '../../src/challenge/authorization.js';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import type { Logger } from '../../src/log.js';
import type { Challenge } from '../../src/challenge/challenge.js';
import { FileJournal } from '../../src/store/file-journal.js';
import { JournaledChallengeStore } from '../../src/store/journaled-store.js';
import { decodeState, encodeState } from '../../src/store/state-format.js';
import { waitUntil } from '../helpers/daemon.js';
import { shortTempDir } from '../helpers/tmp.js';

const digest = (fill: number) => new Uint8Array(32).fill(fill);
const id = (name: string) => parseIdentifier(name);

/** Counts completed writes and keeps the last text written; everything else is the real file journal. */
class CountingJournal extends FileJournal {
  writes = 0;
  last = '';
  override async write(text: string): Promise<void> {
    await super.write(text);
    this.writes++;
    this.last = text;
  }
}

interface Opened {
  store: JournaledChallengeStore;
  journal: CountingJournal;
  file: string;
  dir: string;
  logs: string[];
}

async function open(t: Test, options: { dir?: string; file?: string; maxChallenges?: number } = {}): Promise<Opened> {
  const dir = options.dir ?? shortTempDir(t);
  const file = options.file ?? path.join(dir, 'state.json');
  const logs: string[] = [];
  const log: Logger = { log: (level, event, fields) => logs.push(`${level} ${event} ${JSON.stringify(fields ?? {})}`) };
  const journal = new CountingJournal(file);
  const store = await JournaledChallengeStore.open({ journal, maxChallenges: options.maxChallenges ?? 100, log });
  t.teardown(() => store.close());
  return { store, journal, file, dir, logs };
}

/** `sni digest expiry` of what the file holds, and of what the store holds: equal when memory and disk agree. */
function fileRows(file: string): string[] {
  return rows(decodeState(readFileSync(file), new Date()).challenges);
}
function rows(challenges: readonly Challenge[]): string[] {
  return challenges.map((c) => `${c.identifier.sni} ${digestToHex(c.digest)} ${c.expiresAt.toISOString()}`).sort();
}

t.test('every change is in the file when it resolves; the file is replaced whole, no temp file stays', async (t) => {
  const { store, file, dir, logs } = await open(t);
  t.match(logs, [/^info state-loaded .*"restored":0.*"new":true/]);
  t.same(fileRows(file), [], 'a missing file starts empty and is written at once');
  const steps: [string, () => Promise<unknown>][] = [
    ['put a', () => store.put(id('a.example'), digest(1), 60)],
    ['put b', () => store.put(id('B.example.'), digest(2), 120)],
    ['redeploy a', () => store.put(id('a.example'), digest(3), 60)],
    ['delete b', () => store.delete('b.example')],
    ['put ip', () => store.put(id('192.0.2.1'), digest(4), 60)],
  ];
  for (const [name, step] of steps) {
    await step();
    t.same(readdirSync(dir), ['state.json'], `${name}: only the state file in the directory`);
    t.same(fileRows(file), rows(store.listAll()), `${name}: the file holds exactly the store`);
  }
  t.notMatch(readFileSync(file, 'utf8'), /PRIVATE|"key"/i, 'no key material');
  t.equal(await store.delete('nothing.example'), false);
});

t.test('a reader never sees a partial file while writes go on', async (t) => {
  const { store, file } = await open(t);
  let writing = true;
  let reads = 0;
  const reader = (async () => {
    while (writing) {
      // decodeState throws on anything truncated or mixed; rename() makes the switch atomic.
      decodeState(readFileSync(file), new Date());
      reads++;
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  for (let i = 0; i < 40; i++) await store.put(id(`n${i}.example`), digest(i), 60);
  writing = false;
  await reader;
  t.ok(reads > 0, `${reads} reads, every one a complete document`);
  t.equal(fileRows(file).length, 40);
});

t.test('concurrent puts coalesce into fewer writes, each acknowledged only after a write holding it', async (t) => {
  const { store, journal, file } = await open(t);
  const before = journal.writes;
  const count = 50;
  const puts = Array.from({ length: count }, (_, i) =>
    store.put(id(`c${i}.example`), digest(i), 60).then((challenge) => {
      // Read at the moment of acknowledgement: the file must already hold this challenge.
      const onDisk = fileRows(file);
      return onDisk.includes(rows([challenge])[0]!);
    }),
  );
  const seen = await Promise.all(puts);
  const writes = journal.writes - before;
  t.comment(`${count} concurrent puts → ${writes} writes`);
  t.ok(writes < count, 'fewer writes than puts');
  t.ok(writes >= 1);
  t.same(seen, Array(count).fill(true), 'every put was in the file when it resolved');
});

t.test('expiry is written; close writes the final state', async (t) => {
  const { store, journal, file } = await open(t);
  await store.put(id('short.example'), digest(1), 0.2);
  await store.put(id('long.example'), digest(2), 60);
  // A completed write, not fileRows(): decoding already hides an entry past its expiry before the write removes it.
  await waitUntil('the expiry write', () => (journal.last.includes('short.example') ? undefined : true));
  t.notMatch(readFileSync(file, 'utf8'), /short\.example/);
  t.match(fileRows(file), [/^long\.example /]);
  const writes = journal.writes;
  await store.close();
  t.equal(journal.writes, writes + 1, 'one final write on close');
  t.match(fileRows(file), [/^long\.example /]);
});

t.test('a failed write rejects with ERR_STATE_WRITE_FAILED and leaves memory as the file has it', async (t) => {
  // As root, file modes do not stop writes; a state directory replaced by a plain file does (ENOTDIR).
  const root = shortTempDir(t);
  const stateDir = path.join(root, 'state');
  mkdirSync(stateDir);
  const { store, file, logs } = await open(t, { file: path.join(stateDir, 'state.json') });
  await store.put(id('a.example'), digest(1), 60);
  const durable = fileRows(file);
  const events: string[] = [];
  store.on('put', (c) => events.push(`put ${c.identifier.sni} ${c.digest[0]}`));
  store.on('delete', (sni, reason) => events.push(`delete ${sni} ${reason}`));

  renameSync(stateDir, path.join(root, 'away'));
  writeFileSync(stateDir, 'not a directory');
  const failed = { code: 'ERR_STATE_WRITE_FAILED', message: /could not write the state file .*state\.json: ENOTDIR/ };
  await t.rejects(store.put(id('b.example'), digest(2), 60), failed, 'a new deploy is refused');
  await t.rejects(store.put(id('a.example'), digest(9), 60), failed, 'a redeploy is refused');
  await t.rejects(store.delete('a.example'), failed, 'a clean is refused');
  const concurrent = await Promise.allSettled([store.put(id('c.example'), digest(3), 60), store.put(id('d.example'), digest(4), 60)]);
  t.same(concurrent.map((r) => r.status), ['rejected', 'rejected'], 'every caller of a failed write is refused');
  t.same(rows(store.list()).map((r) => r.split(' ').slice(0, 2).join(' ')), durable.map((r) => r.split(' ').slice(0, 2).join(' ')), 'memory is what the file holds');
  t.equal(store.get('a.example')?.digest[0], 1, 'the old challenge is served again');
  t.ok(events.includes('delete b.example clean') && events.includes('put a.example 1'), 'rollbacks are announced, so caches follow');
  t.ok(logs.some((l) => /^error state-write-failed .*ENOTDIR/.test(l)), 'the failure is logged');

  rmSync(stateDir);
  renameSync(path.join(root, 'away'), stateDir);
  await store.put(id('e.example'), digest(5), 60);
  t.match(fileRows(file), [/^a\.example 01/, /^e\.example 05/], 'writes work again once the directory is back');
  t.same(readdirSync(stateDir), ['state.json'], 'no temp file left behind');
});

t.test('open restores live entries, drops expired ones and rewrites the file', async (t) => {
  const dir = shortTempDir(t);
  const file = path.join(dir, 'state.json');
  const now = Date.now();
  const entry = (name: string, fill: number, ms: number): Challenge => ({ identifier: id(name), digest: digest(fill), expiresAt: new Date(now + ms) });
  writeFileSync(file, encodeState([entry('live.example', 1, 60_000), entry('old.example', 2, -1000), entry('192.0.2.7', 3, 30_000)]));
  const { store, logs } = await open(t, { dir });
  t.same(store.list().map((c) => c.identifier.sni).sort(), ['7.2.0.192.in-addr.arpa', 'live.example']);
  const live = store.get('live.example')!;
  t.ok(Math.abs(live.expiresAt.getTime() - (now + 60_000)) < 1000, 'the wall-clock expiry is kept');
  t.match(logs, [/^info state-loaded .*"restored":2,"expired":1/]);
  t.same(fileRows(file).map((r) => r.split(' ')[0]), ['7.2.0.192.in-addr.arpa', 'live.example'], 'the expired entry left the file');
});

t.test('more entries than --max-challenges: the rest are dropped with a warning', async (t) => {
  const dir = shortTempDir(t);
  const expiresAt = new Date(Date.now() + 60_000);
  writeFileSync(path.join(dir, 'state.json'), encodeState(['a', 'b', 'c'].map((n, i) => ({ identifier: id(`${n}.example`), digest: digest(i), expiresAt }))));
  const { store, logs } = await open(t, { dir, maxChallenges: 2 });
  t.equal(store.size, 2);
  t.match(logs, [/^warn state-loaded .*"restored":2,"expired":0,"dropped":1/]);
});

t.test('a corrupt file: one log line, moved aside, empty store', async (t) => {
  const dir = shortTempDir(t);
  writeFileSync(path.join(dir, 'state.json'), '{"version":1,"challenges":[{"identifier":"a.example","digest":"zz"');
  const { store, file, logs } = await open(t, { dir });
  t.equal(store.size, 0);
  t.equal(logs.length, 1, 'exactly one log line');
  t.match(logs[0], /^warn state-corrupt .*"reason":"it is not JSON".*"moved_to":".*state\.json\.corrupt-\d{4}-\d\d-\d\dT\d{6}\.\d{3}Z"/);
  const aside = readdirSync(dir).filter((name) => name.startsWith('state.json.corrupt-'));
  t.equal(aside.length, 1, 'the file was moved aside');
  t.match(readFileSync(path.join(dir, aside[0]!), 'utf8'), /"digest":"zz"/, 'with its contents intact');
  t.same(fileRows(file), [], 'a fresh empty state replaces it');
});

t.test('a foreign file at the state path: moved aside, and nothing of it reaches the log', async (t) => {
  const dir = shortTempDir(t);
  writeFileSync(path.join(dir, 'state.json'), 'root:$y$j9T$secret:19000:0:99999:7:::\n');
  const { store, logs } = await open(t, { dir });
  t.equal(store.size, 0);
  t.match(logs, [/^warn state-corrupt .*"reason":"it is not JSON"/]);
  t.notMatch(logs.join('\n'), /root|secret|\$y\$/, 'no byte of the file is logged');
});

t.test('a state path that is a link: open fails with ERR_STATE_SYMLINK; the target is neither read, logged nor moved', async (t) => {
  const dir = shortTempDir(t);
  const victimDir = shortTempDir(t);
  const victim = path.join(victimDir, 'shadow');
  const secret = 'root:$y$j9T$secret:19000:0:99999:7:::\n';
  writeFileSync(victim, secret, { mode: 0o600 });
  const file = path.join(dir, 'state.json');
  symlinkSync(victim, file);
  const logs: string[] = [];
  const log: Logger = { log: (level, event, fields) => logs.push(`${level} ${event} ${JSON.stringify(fields ?? {})}`) };
  await t.rejects(JournaledChallengeStore.open({ journal: new FileJournal(file), maxChallenges: 10, log }), { code: 'ERR_STATE_SYMLINK' });
  t.notMatch(logs.join('\n'), /root|secret|\$y\$/, 'no byte of the target is logged');
  t.equal(readFileSync(victim, 'utf8'), secret, 'the target is byte-identical');
  t.equal(readlinkSync(file), victim, 'the link is left where it is (not moved aside)');
  t.same(readdirSync(dir), ['state.json']);
});

t.test('open removes temp files a killed daemon left, but not a link of that name', async (t) => {
  const dir = shortTempDir(t);
  const victimDir = shortTempDir(t);
  const victim = path.join(victimDir, 'shadow');
  writeFileSync(victim, 'secret\n');
  writeFileSync(path.join(dir, 'state.json.tmp-4242'), '{"version":1,');
  symlinkSync(victim, path.join(dir, 'state.json.tmp-4343'));
  const { logs } = await open(t, { dir });
  t.match(logs, [/^info state-temp-removed .*"files":\["state\.json\.tmp-4242"\]/, /^info state-loaded /]);
  t.same(readdirSync(dir).sort(), ['state.json', 'state.json.tmp-4343']);
  t.equal(readFileSync(victim, 'utf8'), 'secret\n');
});

t.test('a directory where the file should be counts as unreadable', async (t) => {
  const dir = shortTempDir(t);
  mkdirSync(path.join(dir, 'state.json'));
  const { store, logs } = await open(t, { dir });
  t.equal(store.size, 0);
  t.match(logs, [/^warn state-corrupt .*"reason":"it is not a regular file"/]);
});

t.test('a state directory that cannot be written stops open', async (t) => {
  const dir = shortTempDir(t);
  const journal = new FileJournal(path.join(dir, 'missing', 'state.json'));
  const events: string[] = [];
  await t.rejects(JournaledChallengeStore.open({ journal, maxChallenges: 10, log: { log: (_level: string, event: string) => void events.push(event) } }), {
    code: 'ERR_STATE_WRITE_FAILED',
    message: /missing\/state\.json: ENOENT/,
  });
  t.notOk(events.includes('state-loaded'), `no state-loaded before the failure: ${events.join(' ')}`);
});

t.test('several deploys of a name are written (version 2), cleaned by digest, and come back after a restart in order', async (t) => {
  const dir = shortTempDir(t);
  const first = await open(t, { dir });
  await first.store.put(id('a.example'), digest(1), 60);
  await first.store.put(id('a.example'), digest(2), 60);
  await first.store.put(id('a.example'), digest(3), 60);
  t.equal(await first.store.delete('a.example', digest(2)), true);
  t.match(readFileSync(first.file, 'utf8'), /"version": 2/, 'written as version 2');
  t.same(fileRows(first.file), rows(first.store.listAll()), 'the file holds every deploy');
  await first.store.close();
  const second = await open(t, { dir });
  t.same(second.store.listAll().map((c) => c.digest[0]), [1, 3], 'both deploys restored, oldest first');
  t.equal(second.store.get('a.example')?.digest[0], 3, 'the newest is served');
  t.equal(await second.store.delete('a.example', digest(3)), true);
  t.equal(second.store.get('a.example')?.digest[0], 1, 'cleaning it serves the previous one');
  t.match(readFileSync(second.file, 'utf8'), /"version": 1/, 'one deploy left: version 1 again');
});
