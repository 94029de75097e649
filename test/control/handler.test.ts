import t, { type Test } from 'tap';
import { createChallengeCertificate } from '../../src/challenge/certificate.js';
import { createCommandHandler } from '../../src/control/handler.js';
import { silentLogger } from '../../src/log.js';
import { ContextTable } from '../../src/net/context-table.js';
import { CertificateCache } from '../../src/store/certificate-cache.js';
import { MemoryChallengeStore } from '../../src/store/memory-store.js';

const digest = 'ab:'.repeat(31) + 'ab';

function setup(t: Test, hold: Promise<void>) {
  const store = new MemoryChallengeStore({ maxChallenges: 10 });
  // The certificate build waits for `hold`, so the test can act while a deploy is in flight.
  const contexts = new ContextTable();
  const cache = new CertificateCache(store, contexts, silentLogger, async (challenge) => {
    await hold;
    return createChallengeCertificate(challenge.identifier, challenge.digest);
  });
  t.teardown(() => {
    cache.close();
    return store.close();
  });
  const handle = createCommandHandler({
    store,
    cache,
    log: silentLogger,
    defaultTtlSeconds: () => 60,
    status: () => ({ version: 'test', uptimeSeconds: 0, listeners: [], workers: 1 }),
    activity: () => Promise.resolve({ served: 0, passed: 0, rejected: 0, servedBySni: contexts.servedBySni(), watched: [] }),
  });
  return { store, contexts, handle };
}

t.test('a deploy whose challenge is cleaned while its certificate is built does not answer OK', async (t) => {
  let release!: () => void;
  const { handle, contexts } = setup(t, new Promise((resolve) => (release = resolve)));
  const deploying = handle(`deploy a.example.test ${digest}`);
  t.same(await handle('clean a.example.test'), ['OK cleaned a.example.test']);
  release();
  const [reply] = await deploying;
  t.match(reply, /^ERR certificate the challenge for a\.example\.test was (cleaned or replaced|replaced or removed)/);
  t.equal(contexts.lookup('a.example.test'), undefined, 'nothing is served');
  t.same(await handle('list'), ['OK 0']);
});

t.test('an ordinary deploy answers OK once the certificate is ready', async (t) => {
  const { handle, contexts } = setup(t, Promise.resolve());
  t.match((await handle(`deploy a.example.test ${digest}`))[0], /^OK deployed a\.example\.test expires /);
  t.ok(contexts.lookup('a.example.test'));
});

/** Issue 12, item 3. */
t.test('five parallel identical deploys (same name, same digest) all answer OK', async (t) => {
  let release!: () => void;
  const { handle, contexts } = setup(t, new Promise((resolve) => (release = resolve)));
  const replies = Array.from({ length: 5 }, () => handle(`deploy a.example.test ${digest}`));
  release();
  const answers = (await Promise.all(replies)).map((lines) => lines[0]);
  t.same(answers.filter((line) => !/^OK deployed a\.example\.test /.test(line ?? '')), [], 'every one answers OK');
  t.ok(contexts.lookup('a.example.test'), 'and the name is served');
  t.match(await handle('list'), [new RegExp(`^a\\.example\\.test ${'ab'.repeat(32)} `), 'OK 1']);
});

t.test('deploy A, deploy B, then clean with A\'s digest: B stays served; clean with B\'s restores nothing cleaned', async (t) => {
  const { handle, contexts } = setup(t, Promise.resolve());
  const a = 'aa'.repeat(32);
  const b = 'bb'.repeat(32);
  const served = () => contexts.lookup('a.example.test');
  t.match((await handle(`deploy a.example.test ${a}`))[0], /^OK deployed/);
  t.match((await handle(`deploy a.example.test ${b}`))[0], /^OK deployed/);
  t.same(await handle(`clean a.example.test ${a}`), ['OK cleaned a.example.test'], 'run A cleans its own deploy');
  t.ok(served(), 'the name is still served');
  t.match(await handle('list'), [new RegExp(`^a\\.example\\.test ${b} `), 'OK 1'], 'with B\'s digest');
  t.same(await handle(`clean a.example.test ${a}`), ['OK not-deployed a.example.test'], 'A is gone already');

  t.match((await handle(`deploy a.example.test ${a}`))[0], /^OK deployed/);
  t.same(await handle(`clean a.example.test ${a}`), ['OK cleaned a.example.test'], 'cleaning the newest');
  t.match(await handle('list'), [new RegExp(`^a\\.example\\.test ${b} `), 'OK 1'], 'serves the previous one again');

  t.same(await handle('clean a.example.test'), ['OK cleaned a.example.test'], 'clean without a digest: every deploy');
  t.same(await handle('list'), ['OK 0']);
  t.match((await handle(`deploy a.example.test ${a}`))[0], /^OK deployed/);
  t.match((await handle(`deploy a.example.test ${b}`))[0], /^OK deployed/);
  t.same(await handle('unauth a.example.test'), ['OK'], 'unauth keeps its meaning: every deploy');
  t.same(await handle('list'), ['OK 0']);
  t.match((await handle('clean a.example.test not-a-digest'))[0], /^ERR bad-authorization /);
});
