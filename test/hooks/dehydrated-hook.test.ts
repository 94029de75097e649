/**
 * hooks/dehydrated-hook.sh against a real daemon, through each transport (CLI, nc, socat), called the way
 * dehydrated calls it.
 */
import { createHash } from 'node:crypto';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { cleanEnv, REPO_ROOT, requirePeers, run, startDaemon, type Daemon, type RunResult } from '../helpers/daemon.js';
import { dehydratedDigest } from '../helpers/dehydrated-alpn.js';
import { silentSocket } from '../helpers/silent-socket.js';
import { shortTempDir } from '../helpers/tmp.js';

const HOOK = path.join(REPO_ROOT, 'hooks', 'dehydrated-hook.sh');

/** A DOMAIN TOKEN DIGEST triple as dehydrated builds it. */
function triple(domain: string): [string, string, string] {
  const token = createHash('sha256').update(`token:${domain}`).digest('base64url');
  return [domain, token, dehydratedDigest(`${token}.thumbprint-of-the-account-key`)];
}

function hook(args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<RunResult> {
  return run(HOOK, args, { env: cleanEnv(env), timeoutMs });
}

/** Identifiers the daemon has deployed (first word of each `list` row). */
async function deployed(daemon: Daemon): Promise<string[]> {
  const lines = await daemon.request('list');
  const final = lines.at(-1) ?? '';
  if (!final.startsWith('OK')) throw new Error(`list failed: ${lines.join(' | ')}`);
  return lines
    .slice(0, -1)
    .map((l) => l.split(/\s+/)[0] ?? '')
    .sort();
}

const TRANSPORTS = [
  { name: 'cli', peers: [] as string[], build: true },
  { name: 'nc', peers: ['nc'], build: false },
  { name: 'socat', peers: ['socat'], build: false },
] as const;

const baseOptions = requirePeers(t, ['bash'], true);

t.test('hook', baseOptions, async (t) => {
  const dir = shortTempDir(t, 'ar-hook-');
  const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir: path.join(dir, 'daemon') });
  t.teardown(() => daemon.stop());

  for (const transport of TRANSPORTS) {
    t.test(`transport ${transport.name}`, requirePeers(t, transport.peers, transport.build), async (t) => {
      const env = { ALPN_RESPONDER_CONTROL: daemon.controlPath, ALPN_RESPONDER_TRANSPORT: transport.name };
      const tag = `${transport.name}.example.test`;
      const one = triple(`one.${tag}`);
      const chain = [triple(`a.${tag}`), triple(`b.${tag}`), triple(`c.${tag}`)];

      const single = await hook(['deploy_challenge', ...one], env);
      t.equal(single.code, 0, 'deploy_challenge with one triple exits 0', single);
      t.same(await deployed(daemon), [one[0]], 'the one identifier is deployed');

      const chained = await hook(['deploy_challenge', ...chain.flat()], env);
      t.equal(chained.code, 0, 'deploy_challenge with three triples (HOOK_CHAIN=yes) exits 0', chained);
      t.same(await deployed(daemon), [one[0], ...chain.map((c) => c[0])].sort(), 'all four are deployed');
      t.match(chained.stdout, /deployed a\./, 'the daemon\'s answers are shown');

      const cleanedChain = await hook(['clean_challenge', ...chain.flat()], env);
      t.equal(cleanedChain.code, 0, 'clean_challenge with three triples exits 0', cleanedChain);
      t.same(await deployed(daemon), [one[0]], 'the chained three are gone');
      const cleanedOne = await hook(['clean_challenge', ...one], env);
      t.equal(cleanedOne.code, 0, 'clean_challenge with one triple exits 0', cleanedOne);
      t.same(await deployed(daemon), [], 'nothing is left deployed');

      // Two runs for one name (issue 12, item 3): run A's clean_challenge passes its DIGEST and removes only A.
      const runA = triple(`two.${tag}`);
      const runB: [string, string, string] = [runA[0], 'token-b', dehydratedDigest('token-b.thumbprint-of-the-account-key')];
      t.equal((await hook(['deploy_challenge', ...runA], env)).code, 0);
      t.equal((await hook(['deploy_challenge', ...runB], env)).code, 0);
      t.equal((await hook(['clean_challenge', ...runA], env)).code, 0);
      const rows = (await daemon.request('list')).slice(0, -1);
      t.same(rows.map((row) => row.split(/\s+/).slice(0, 2).join(' ')), [`${runA[0]} ${runB[2].replaceAll(':', '').toLowerCase()}`], 'run B\'s deploy is still served after run A cleaned');
      t.equal((await hook(['clean_challenge', ...runB], env)).code, 0);
      t.same(await deployed(daemon), [], 'and gone once run B cleaned');

      const again = await hook(['clean_challenge', ...one], env);
      t.equal(again.code, 0, 'cleaning what is not deployed is fine (OK not-deployed)', again);

      // A bad digest in the middle of a chain: refused, the ERR line shown, and the first one rolled back.
      const bad = await hook(['deploy_challenge', ...chain[0]!, `b.${tag}`, 'token', 'not-a-digest', ...chain[2]!], env);
      t.not(bad.code, 0, 'a bad DIGEST makes the hook fail');
      t.match(bad.stderr, /ERR bad-authorization/, 'the daemon\'s ERR line is shown', bad);
      t.match(bad.stderr, /b\./, 'the failing identifier is named');
      t.same(await deployed(daemon), [], 'challenges deployed earlier in the same call are cleaned again');
    });
  }

  t.test('every other event exits 0 without touching the socket', async (t) => {
    const silent = await silentSocket(t, dir);
    const events = [
      ['deploy_cert', 'a.example.test', '/k.pem', '/c.pem', '/f.pem', '/ch.pem', '1700000000'],
      ['unchanged_cert', 'a.example.test', '/k.pem', '/c.pem', '/f.pem', '/ch.pem'],
      ['invalid_challenge', 'a.example.test', '{"status":"invalid"}'],
      ['request_failure', '400', 'urn:ietf:params:acme:error:malformed', 'detail', 'headers'],
      ['exit_hook'],
      ['exit_hook', 'ERROR'],
      ['generate_csr', 'a.example.test', '/certdir', 'a.example.test b.example.test'],
      ['sync_cert', '/k.pem', '/c.pem', '/f.pem', '/ch.pem', '/req.csr'],
      ['deploy_ocsp', 'a.example.test', '/ocsp.der', '1700000000'],
      ['this_hookscript_is_broken__dehydrated_is_working_fine__please_ignore_unknown_hooks_in_your_script'],
      ['some_future_event', 'x'],
      [],
    ];
    for (const args of events) {
      const result = await hook(args, { ALPN_RESPONDER_CONTROL: silent.path });
      t.equal(result.code, 0, `${args[0] ?? '(no event)'} exits 0`, result);
    }
    t.equal(silent.connections(), 0, 'no event opened the control socket');
  });

  t.test('ALPN_RESPONDER_NEXT_HOOK receives every event and decides the exit status', async (t) => {
    const record = path.join(dir, 'next-hook.log');
    const next = path.join(dir, 'next-hook.sh');
    await writeFile(next, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${record}'\nexit "\${NEXT_EXIT:-0}"\n`);
    await chmod(next, 0o755);
    const calls = async (): Promise<string[]> => (await readFile(record, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    const env = { ALPN_RESPONDER_CONTROL: daemon.controlPath, ALPN_RESPONDER_NEXT_HOOK: next };
    const x = triple('next.example.test');

    const deploy = await hook(['deploy_challenge', ...x], env);
    t.equal(deploy.code, 0, 'deploy_challenge exits 0', deploy);
    t.same(await deployed(daemon), [x[0]], 'our deploy happened');
    t.same(await calls(), [`deploy_challenge ${x.join(' ')}`], 'the next hook got deploy_challenge with the same arguments');

    const clean = await hook(['clean_challenge', ...x], env);
    t.equal(clean.code, 0, 'clean_challenge exits 0', clean);
    t.same(await deployed(daemon), [], 'our clean happened');

    const cert = await hook(['deploy_cert', 'next.example.test', '/k', '/c', '/f', '/ch', '1'], { ...env, NEXT_EXIT: '7' });
    t.equal(cert.code, 7, 'the next hook\'s exit status is returned');
    t.same((await calls()).slice(1), [`clean_challenge ${x.join(' ')}`, 'deploy_cert next.example.test /k /c /f /ch 1']);

    const bad = await hook(['deploy_challenge', 'next.example.test', 'tok', 'zz'], env);
    t.not(bad.code, 0, 'a refused deploy fails');
    t.equal((await calls()).length, 3, 'and the next hook is not called after our deploy failed');

    const missing = await hook(['deploy_cert', 'x'], { ...env, ALPN_RESPONDER_NEXT_HOOK: path.join(dir, 'no-such-hook') });
    t.not(missing.code, 0, 'a next hook that does not exist is an error');
    t.match(missing.stderr, /ALPN_RESPONDER_NEXT_HOOK/, 'naming the variable');
  });

  t.test('daemon unreachable: non-zero with a helpful message', async (t) => {
    // A stale socket file left by a daemon that was killed: exists, but refuses connections.
    const stale = await startDaemon({ listen: ['127.0.0.1:0'], dir: path.join(dir, 'stale') });
    stale.process.child.kill('SIGKILL');
    await stale.process.exited;
    const cases = [
      { what: 'no socket file', control: path.join(dir, 'nope', 'control.sock') },
      { what: 'stale socket file', control: stale.controlPath },
      { what: 'not a socket', control: HOOK },
    ];
    for (const transport of TRANSPORTS) {
      for (const { what, control } of cases) {
        const result = await hook(['deploy_challenge', ...triple('down.example.test')], {
          ALPN_RESPONDER_CONTROL: control,
          ALPN_RESPONDER_TRANSPORT: transport.name,
        });
        const label = `${transport.name}, ${what}`;
        t.not(result.code, 0, `${label}: exits non-zero`);
        t.match(result.stderr, /is the daemon running\?/, `${label}: asks whether the daemon runs`, result);
        t.match(result.stderr, /ALPN_RESPONDER_CONTROL/, `${label}: points at ALPN_RESPONDER_CONTROL`);
        t.match(result.stderr, /group/, `${label}: mentions the socket's group`);
      }
    }
    // Cleaning against a dead daemon must not make dehydrated drop an order the CA already validated.
    const clean = await hook(['clean_challenge', ...triple('down.example.test')], { ALPN_RESPONDER_CONTROL: stale.controlPath });
    t.equal(clean.code, 0, 'clean_challenge against a dead daemon warns but exits 0');
    t.match(clean.stderr, /warning/, 'with a warning');
  });

  t.test('a daemon that never answers: bounded by ALPN_RESPONDER_TIMEOUT', async (t) => {
    const silent = await silentSocket(t, dir);
    for (const transport of TRANSPORTS) {
      const result = await hook(['deploy_challenge', ...triple('slow.example.test')], {
        ALPN_RESPONDER_CONTROL: silent.path,
        ALPN_RESPONDER_TRANSPORT: transport.name,
        ALPN_RESPONDER_TIMEOUT: '1',
      });
      t.not(result.code, 0, `${transport.name}: exits non-zero`);
      // Bounded by its own ALPN_RESPONDER_TIMEOUT, not by the test's hang guard (which would kill it: a signal name).
      t.type(result.code, 'number', `${transport.name}: gives up by itself (${result.code}, in ${result.ms.toFixed(0)} ms)`);
      t.match(result.stderr, /is the daemon running\?/, `${transport.name}: says why`, result);
    }
  });

  t.test('arguments that are not DOMAIN TOKEN DIGEST triples are refused', async (t) => {
    const env = { ALPN_RESPONDER_CONTROL: daemon.controlPath };
    const short = await hook(['deploy_challenge', 'a.example.test', 'token'], env);
    t.equal(short.code, 2, 'two arguments: usage error');
    const injected = await hook(['deploy_challenge', 'a.example.test\nclean b.example.test', 'token', triple('a')[2]], env);
    t.equal(injected.code, 2, 'a newline inside an argument is refused');
    t.same(await deployed(daemon), [], 'nothing was deployed');
  });

  t.test('ALPN_RESPONDER_BIN selects the CLI', requirePeers(t, [], true), async (t) => {
    const x = triple('bin.example.test');
    const env = {
      ALPN_RESPONDER_CONTROL: daemon.controlPath,
      ALPN_RESPONDER_TRANSPORT: 'cli',
      ALPN_RESPONDER_BIN: path.join(REPO_ROOT, 'dist', 'cli.js'),
    };
    const result = await hook(['deploy_challenge', ...x], env);
    t.equal(result.code, 0, 'deploy through ALPN_RESPONDER_BIN exits 0', result);
    t.same(await deployed(daemon), [x[0]]);
    t.equal((await hook(['clean_challenge', ...x], env)).code, 0);
    const wrong = await hook(['deploy_challenge', ...x], { ...env, ALPN_RESPONDER_BIN: path.join(dir, 'nope.js') });
    t.not(wrong.code, 0, 'a wrong ALPN_RESPONDER_BIN is an error');
  });
});
