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
