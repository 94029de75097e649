import t from 'tap';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CertificateCheck } from '../src/diagnostics/verify.js';
import { caVerdict, digestOf } from './helpers/ca-check.js';
import { requirePeers, startDaemon, waitUntil, type Daemon } from './helpers/daemon.js';
import { shortTempDir } from './helpers/tmp.js';

const hexDigest = (name: string) => digestOf(name).toString('hex');

/** What the CA would get from the daemon for `identifier`: the certificate check, or the TLS error code. */
function challengeCheck(daemon: Daemon, identifier: string): Promise<CertificateCheck | string> {
  const { address, port } = daemon.listeners[0]!;
  return caVerdict({ host: address, port }, identifier);
}

const stateLines = (daemon: Daemon) => daemon.logLines().filter((line) => / event=state-/.test(line));

t.test('deployed challenges survive SIGKILL; expired ones do not; a corrupt file is moved aside', requirePeers(t, [], true), async (t) => {
  const dir = shortTempDir(t);
  const stateDir = path.join(dir, 'state');
  mkdirSync(stateDir);
  const stateFile = path.join(stateDir, 'state.json');
  const serve = () => startDaemon({ listen: ['127.0.0.1:0'], dir, args: ['--state', stateFile] });
  const running: Daemon[] = [];
  t.teardown(async () => {
    for (const daemon of running) await daemon.stop();
  });

  // Before the restart: three deploys, one with a 2 s TTL, and SIGKILL the moment the last OK arrives.
  const first = await serve();
  running.push(first);
  const okLine = /^OK deployed (\S+) expires (\S+)$/;
  const deployed: Record<string, string> = {};
  for (const [identifier, ttl] of [['a.example.test', ''], ['127.0.0.1', ''], ['short.example.test', ' 2']] as const) {
    const reply = await first.request(`deploy ${identifier} ${hexDigest(identifier)}${ttl}`);
    const match = okLine.exec(reply.at(-1) ?? '');
    t.ok(match, `deploy ${identifier}: ${reply.join(' | ')}`);
    deployed[identifier] = match?.[2] ?? '';
  }
  process.kill(-first.process.child.pid!, 'SIGKILL');
  t.equal(await first.process.exited, 'SIGKILL', 'killed, no chance to write anything more');
  const shortExpiry = Date.parse(deployed['short.example.test']!);

  // After the restart: the same --state, the same control path (the stale socket is replaced).
  const second = await serve();
  running.push(second);
  t.comment(`restart log:\n${second.logLines().join('\n')}`);
  t.match(stateLines(second), [/ event=state-loaded path=\S+state\.json restored=[23] expired=[01]$/]);
  t.notOk(second.logLines().some((line) => / event=state-corrupt/.test(line)));
  for (const identifier of ['a.example.test', '127.0.0.1']) {
    t.same(await challengeCheck(second, identifier), { ok: true }, `${identifier} is served again and passes the CA's checks`);
  }
  const list = (await second.request('list')).join('\n');
  const restored = new RegExp(`^a\\.example\\.test ${hexDigest('a.example.test')} (\\S+) `, 'm').exec(list);
  t.ok(restored, 'list shows a.example.test');
  // Restored from the remaining time, so the wall-clock expiry may move by the milliseconds the load takes.
  t.ok(Math.abs(Date.parse(restored?.[1] ?? '') - Date.parse(deployed['a.example.test']!)) < 1000, 'with the expiry it had before the restart');
  t.match(list, new RegExp(`^127\\.0\\.0\\.1 ${hexDigest('127.0.0.1')} `, 'm'), 'list shows 127.0.0.1');

  // The 2 s challenge goes when its TTL, counted from the deploy before the restart, runs out.
  await waitUntil('short.example.test to expire', async () => ((await second.request('list')).some((l) => l.startsWith('short.')) ? undefined : true));
  t.ok(Date.now() >= shortExpiry - 5, 'not before its wall-clock expiry');
  t.equal(await challengeCheck(second, 'short.example.test'), 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME', 'no longer served');
  t.match((await second.request('list')).at(-1), 'OK 2');
  await waitUntil('the expiry to reach the state file', () => (readFileSync(stateFile, 'utf8').includes('short.') ? undefined : true));
  const expiredWhere = second.logLines().find((l) => / event=expire sni=short\./.test(l)) ?? stateLines(second).find((l) => / expired=1/.test(l));
  t.ok(expiredWhere, `expiry logged: ${expiredWhere}`);
  t.equal(await second.stop(), 0, 'SIGTERM: clean exit');
  t.match(JSON.parse(readFileSync(stateFile, 'utf8')), { version: 1, challenges: [{ identifier: '127.0.0.1' }, { identifier: 'a.example.test' }] }, 'the final state is on disk');

  // A corrupt file: one log line, moved aside, an empty start.
  writeFileSync(stateFile, '{"version":1,"challenges":[{"identifier":"a.example.test"');
  const third = await serve();
  running.push(third);
  t.comment(`log after corruption:\n${third.logLines().join('\n')}`);
  const corrupt = third.logLines().filter((line) => / event=state-corrupt /.test(line));
  t.equal(corrupt.length, 1, 'exactly one state-corrupt line');
  t.match(corrupt[0], / level=warn event=state-corrupt path=\S+ reason="it is not JSON" moved_to=\S+state\.json\.corrupt-\S+ restored=0$/);
  const aside = readdirSync(stateDir).filter((name) => name.startsWith('state.json.corrupt-'));
  t.equal(aside.length, 1, 'moved aside');
  t.same(await third.request('list'), ['OK 0'], 'started empty');

  // The state directory becomes unwritable: deploy is refused, nothing is kept, the daemon carries on.
  renameSync(stateDir, path.join(dir, 'state-away'));
  writeFileSync(stateDir, 'a file where the directory was');
  const refused = await third.request(`deploy b.example.test ${hexDigest('b.example.test')}`);
  t.match(refused, [/^ERR state-write-failed could not write the state file \S+state\.json: ENOTDIR/]);
  t.same(await third.request('list'), ['OK 0'], 'the refused deploy was rolled back');
  t.equal(await challengeCheck(third, 'b.example.test'), 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME', 'and is not served');
  t.equal(third.process.exitState(), undefined, 'still running');
  t.equal(await third.stop(), 0, 'a failed final write does not fail the shutdown');
  t.ok(third.logLines().some((line) => / level=error event=state-write-failed /.test(line)), 'the failures are logged');
  rmSync(stateDir);
});
