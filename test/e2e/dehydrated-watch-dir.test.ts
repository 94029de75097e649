/**
 * End to end without a hook: dehydrated (HOOK unset, CHALLENGETYPE=tls-alpn-01) writes its challenge
 * certificates to ALPNCERTDIR, the daemon serves them from `--watch-dir`, and pebble validates against it.
 */
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { freePort, logField, requirePeers, startDaemon, waitUntil } from '../helpers/daemon.js';
import { ACME_PEERS, runDehydrated, startAcmeStack } from '../helpers/pebble.js';
import { shortTempDir } from '../helpers/tmp.js';

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

t.test('dehydrated with no hook: the daemon serves ALPNCERTDIR', requirePeers(t, [...ACME_PEERS], true), async (t) => {
  const dir = shortTempDir(t, 'ar-e2e-');
  const alpnCertDir = path.join(dir, 'alpn-certs');
  // The daemon refuses to start on a missing directory; dehydrated would create it only on first use.
  await mkdir(alpnCertDir);
  const port = await freePort();
  const daemon = await startDaemon({ listen: [`127.0.0.1:${port}`], dir: path.join(dir, 'daemon'), args: ['--watch-dir', alpnCertDir] });
  t.teardown(() => daemon.stop());
  const stack = await startAcmeStack({ dir: path.join(dir, 'pebble'), tlsPort: port, ipv6: false });
  t.teardown(() => stack.stop());

  const wanted = [['a', 'b', 'c'].map((n) => `${n}.watch.example.test`), ['d.watch.example.test']];
  const result = await runDehydrated({
    stack,
    dir: path.join(dir, 'dehydrated'),
    hook: undefined,
    hookChain: false,
    alpnCertDir,
    certificates: wanted,
    keyAlgo: 'prime256v1',
  });
  const diag = () => ({
    dehydrated: tail((result.issue?.stdout ?? '') + (result.issue?.stderr ?? '') || result.register.stdout + result.register.stderr, 60),
    daemon: tail(daemon.logLines().join('\n')),
    pebble: tail(stack.pebble.output()),
  });
  t.equal(result.register.code, 0, 'account registered', result.register.code === 0 ? {} : diag());
  t.equal(result.issue?.code, 0, 'dehydrated -c succeeded', result.issue?.code === 0 ? {} : diag());
  for (const names of wanted) {
    const cert = result.certificates.find((c) => c.name === names[0]);
    t.same(cert?.sans, [...names].sort(), `certificate for ${names.join(', ')}`, cert ? {} : diag());
    t.comment(`${names.length}-name certificate ${names[0]} in ${cert?.ms?.toFixed(0) ?? '?'} ms (no hook, --watch-dir)`);
  }
  t.comment(`${wanted.length} certificates in ${result.ms.toFixed(0)} ms (dehydrated -c wall time)`);

  const loads = daemon.logLines().filter((l) => / event=watch-load /.test(l));
  t.same(loads.map((l) => logField(l, 'name')).sort(), wanted.flat().sort(), 'every challenge pair was loaded from the directory', diag());
  t.comment(`pick-up times (last file event → served): ${loads.map((l) => `${logField(l, 'ms')} ms`).join(', ')}`);
  const served = daemon.logLines().filter((l) => / event=connection /.test(l) && / outcome=served( |$)/.test(l));
  t.ok(served.length >= wanted.flat().length, 'the CA completed a handshake per name', diag());
  t.same(daemon.logLines().filter((l) => / event=watch-skip /.test(l)), [], 'nothing skipped');

  // dehydrated deletes each pair after its validation: nothing may stay served.
  t.same(await readdir(alpnCertDir), [], 'dehydrated removed its pairs');
  await waitUntil('no directory challenge left', async () => ((await daemon.request('list')).at(-1) === 'OK 0' ? true : undefined));
  t.equal(daemon.logLines().filter((l) => / event=watch-drop /.test(l)).length, wanted.flat().length, 'every pair was dropped');
});
