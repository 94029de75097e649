/**
 * End to end across two nodes: dehydrated's hook deploys to node A only, while pebble's validation connections go
 * to node B only (its tlsPort is B's port). The certificate is issued only if B serves what A was given, through
 * the Redis both share.
 */
import path from 'node:path';
import t from 'tap';
import { freePort, REPO_ROOT, requirePeers, startDaemon } from '../helpers/daemon.js';
import { ACME_PEERS, runDehydrated, startAcmeStack } from '../helpers/pebble.js';
import { REDIS_PEERS, startRedis } from '../helpers/redis.js';
import { shortTempDir } from '../helpers/tmp.js';

const HOOK = path.join(REPO_ROOT, 'hooks', 'dehydrated-hook.sh');

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

t.test('dehydrated deploys on node A, pebble validates on node B', requirePeers(t, [...ACME_PEERS, ...REDIS_PEERS], true), async (t) => {
  const dir = shortTempDir(t, 'ar-e2e-');
  const redis = await startRedis(dir);
  t.teardown(() => redis.stop());
  const store = ['--store', redis.url()];
  const portB = await freePort();
  const [a, b] = await Promise.all([
    startDaemon({ listen: ['127.0.0.1:0'], dir: path.join(dir, 'a'), args: store }),
    startDaemon({ listen: [`127.0.0.1:${portB}`], dir: path.join(dir, 'b'), args: store }),
  ]);
  t.teardown(() => Promise.all([a.stop(), b.stop()]));
  const stack = await startAcmeStack({ dir: path.join(dir, 'pebble'), tlsPort: portB, ipv6: false });
  t.teardown(() => stack.stop());

  const names = ['www.cluster-e2e.example.test', 'api.cluster-e2e.example.test'];
  const result = await runDehydrated({
    stack,
    dir: path.join(dir, 'dehydrated'),
    hook: HOOK,
    hookChain: false,
    certificates: [names],
    env: { ALPN_RESPONDER_CONTROL: a.controlPath },
  });
  const diag = () => ({
    dehydrated: tail((result.issue?.stdout ?? '') + (result.issue?.stderr ?? '') + result.register.stderr, 60),
    a: tail(a.logLines().join('\n')),
    b: tail(b.logLines().join('\n')),
    pebble: tail(stack.pebble.output()),
  });
  t.equal(result.issue?.code, 0, 'dehydrated -c exits 0', result.issue?.code === 0 ? {} : diag());
  t.same(result.certificates[0]?.sans, [...names].sort(), 'the certificate has both names', diag());
  t.comment(`2-name certificate through two nodes in ${result.ms.toFixed(0)} ms (dehydrated -c wall time)`);

  const served = (lines: string[]) => lines.filter((l) => / event=connection .*outcome=served/.test(l));
  t.ok(a.logLines().some((l) => / event=deploy /.test(l)), 'the hook deployed on A');
  t.notOk(b.logLines().some((l) => / event=deploy /.test(l)), 'nothing was deployed on B directly');
  t.same(served(a.logLines()), [], 'the CA never reached A');
  for (const name of names) {
    t.ok(served(b.logLines()).some((l) => l.includes(` sni=${name} `)), `B served the CA for ${name}`, diag());
  }
  for (const node of [a, b]) t.equal((await node.request('list')).at(-1), 'OK 0', 'clean_challenge on A cleaned both nodes');
});
