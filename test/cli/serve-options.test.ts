/**
 * `node dist/cli.js serve` with bad and good option values, for real: a bad value from the command line, the
 * environment or the config file stops it with exit status 2 and one line before anything is opened; good values
 * start it; and a SIGHUP whose config file holds a bad value for any option of the table keeps every running setting.
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { optionRows } from '../../src/config/serve-options.js';
import { cleanEnv, CLI_PATH, requirePeers, run, spawnManaged, startDaemon, waitUntil, type Daemon } from '../helpers/daemon.js';
import { echoBackend, openPassthrough } from '../helpers/echo-backend.js';
import { invalidText, isOptional } from '../helpers/option-values.js';
import { shortTempDir } from '../helpers/tmp.js';

const skip = requirePeers(t, [], true);

async function serve(t: Test, args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const dir = shortTempDir(t);
  const control = path.join(dir, 'c.sock');
  const result = await run(process.execPath, [CLI_PATH, 'serve', '--listen', '127.0.0.1:0', '--control', control, '--workers', '1', ...args], {
    env: cleanEnv(env),
    timeoutMs: 15_000,
  });
  return { ...result, controlCreated: existsSync(control), dir };
}

t.test('a bad value stops serve with exit status 2 and one line naming option, value and what is allowed', { skip: skip.skip }, async (t) => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [['--hello-timeout', 'abc'], {}, /^alpn-responder: ERR_BAD_OPTION --hello-timeout "abc": a duration from 1ms to 10m such as 10s or 500ms \(a bare number is seconds\)\n$/],
    [['--idle-timeout', 'abc'], {}, /^alpn-responder: ERR_BAD_OPTION --idle-timeout "abc": a duration /],
    [['--handshake-timeout', 'xyz'], {}, /^alpn-responder: ERR_BAD_OPTION --handshake-timeout "xyz": /],
    [['--hello-timeout', '-1'], {}, /^alpn-responder: ERR_BAD_OPTION --hello-timeout "-1": /],
    [['--max-hello-bytes', '-5'], {}, /^alpn-responder: ERR_BAD_OPTION --max-hello-bytes "-5": a whole number from 256 to 1048576 bytes\n$/],
    [['--max-challenges', '2.5'], {}, /^alpn-responder: ERR_BAD_OPTION --max-challenges "2.5": a whole number from 1 to 1000000\n$/],
    [[], { ALPN_RESPONDER_MAX_CHALLENGES: '-3' }, /^alpn-responder: ERR_BAD_OPTION --max-challenges "-3" \(from ALPN_RESPONDER_MAX_CHALLENGES\): /],
    [['--accept-proxy-protocol=yes'], {}, /^alpn-responder: ERR_BAD_OPTION --accept-proxy-protocol "yes": true or false\n$/],
    [['--control-group', 'no-such-group-here'], {}, /^alpn-responder: ERR_BAD_OPTION --control-group "no-such-group-here": a group in \/etc\/group or a numeric gid/],
    [['--listen', '999.1.1.1:18445'], {}, /^alpn-responder: ERR_BAD_OPTION --listen "999\.1\.1\.1:18445": IP:PORT, IPv6 in brackets, such as 0\.0\.0\.0:443 or \[::\]:443 \("999\.1\.1\.1" is not an IP address; names, even localhost, are not taken\)\n$/],
    [['--listen', 'nonexistent.invalid:18479'], {}, /^alpn-responder: ERR_BAD_OPTION --listen "nonexistent\.invalid:18479": IP:PORT, .*\("nonexistent\.invalid" is not an IP address/],
    [['--control-mode', '0777'], {}, /^alpn-responder: ERR_BAD_OPTION --control-mode "0777": an octal file mode that gives others no access, such as 0660 or 0600 \(mode 0777 gives others access, and the mode is the control socket's only access control\)\n$/],
    [['--control-mode', '0606'], {}, /^alpn-responder: ERR_BAD_OPTION --control-mode "0606": an octal file mode that gives others no access, such as 0660 or 0600 \(mode 0606 gives others access/],
    [[], { ALPN_RESPONDER_CONTROL_MODE: '0007' }, /^alpn-responder: ERR_BAD_OPTION --control-mode "0007" \(from ALPN_RESPONDER_CONTROL_MODE\): an octal file mode that gives others no access, such as 0660 or 0600 \(mode 0007 gives others access/],
  ];
  for (const [args, env, expected] of cases) {
    const result = await serve(t, args, env);
    const what = [...args, ...Object.entries(env).map(([k, v]) => `${k}=${v ?? ''}`)].join(' ');
    t.equal(result.code, 2, `${what}: exit status 2`);
    t.match(result.stderr, expected, what);
    t.equal(result.stderr.split('\n').length, 2, `${what}: one line`);
    t.notOk(result.controlCreated, `${what}: nothing opened`);
  }
});

t.test('a bad value in the config file stops serve the same way, naming the file', { skip: skip.skip }, async (t) => {
  const dir = shortTempDir(t);
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ 'max-challenges': '-3' }));
  const result = await serve(t, ['--config', file]);
  t.equal(result.code, 2);
  t.equal(result.stderr, `alpn-responder: ERR_BAD_OPTION --max-challenges "-3" (from ${file}): a whole number from 1 to 1000000\n`);
});

t.test('drawn invalid values for drawn options are refused by the real binary', { skip: skip.skip }, async (t) => {
  // A few spawns (each is a process start); the in-process property tests cover every option many times.
  const rows = optionRows().filter(([name]) => !['listen', 'control', 'workers', 'config'].includes(name));
  const draws = fc.sample(
    fc.constantFrom(...rows).chain(([name, row]) => invalidText(name, row.kind.info, isOptional(row) && name !== 'backend').map((raw) => [name, raw] as const)),
    { numRuns: 6 },
  ).filter(([, raw]) => !raw.includes('\0')); // a NUL cannot be passed in argv at all
  for (const [name, raw] of draws) {
    const result = await serve(t, [`--${name}=${raw}`]);
    t.equal(result.code, 2, `--${name}=${JSON.stringify(raw)}: exit status 2 (${result.stderr.trim()})`);
    t.match(result.stderr, new RegExp(`^alpn-responder: ERR_BAD_OPTION --${name} `));
  }
});

t.test('valid values with units start it', { skip: skip.skip }, async (t) => {
  const daemon = await startDaemon({
    listen: ['127.0.0.1:0'],
    dir: shortTempDir(t),
    args: ['--hello-timeout', '10s', '--handshake-timeout', '1500ms', '--idle-timeout', '5m', '--backend-connect-timeout', '2', '--ttl', '2h', '--shutdown-timeout', '0.5', '--max-challenges', '7'],
    env: { ALPN_RESPONDER_MAX_CONNECTIONS_PER_SOURCE: '32', ALPN_RESPONDER_ACCEPT_PROXY_PROTOCOL: 'false' },
  });
  t.teardown(() => daemon.stop());
  const deployed = await daemon.cli(['deploy', 'a.example.test', 'ab:'.repeat(31) + 'ab']);
  const expires = Date.parse(/expires (\S+)/.exec(deployed.stdout)?.[1] ?? '');
  t.ok(expires - Date.now() > 3600_000, '--ttl 2h is two hours');
  t.equal(await daemon.stop(), 0);
});

t.test('--control from the environment or the config file is used unless the command line gives one', { skip: skip.skip }, async (t) => {
  const dir = shortTempDir(t);
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ control: path.join(dir, 'file.sock'), listen: '127.0.0.1:0', workers: 1 }));
  const cases: [string[], NodeJS.ProcessEnv, string][] = [
    [[], { ALPN_RESPONDER_CONFIG: config }, 'file.sock'],
    [['--config', config], { ALPN_RESPONDER_CONTROL: path.join(dir, 'env.sock') }, 'env.sock'],
    [['--config', config, `--control=${path.join(dir, 'cli.sock')}`], { ALPN_RESPONDER_CONTROL: path.join(dir, 'env.sock') }, 'cli.sock'],
  ];
  for (const [args, env, expected] of cases) {
    const proc = spawnManaged('alpn-responder', process.execPath, [CLI_PATH, 'serve', ...args], { env: cleanEnv(env) });
    t.teardown(() => proc.stop());
    const line = await waitUntil(`control-listening (${expected})`, () => proc.output().split('\n').find((l) => l.includes(' event=control-listening ')), 15_000);
    t.match(line, `path=${path.join(dir, expected)} `, expected);
    // Stopped once ready: a SIGTERM before the signal handlers are installed ends the process by the signal.
    await waitUntil(`ready (${expected})`, () => proc.output().includes(' event=ready ') || undefined, 15_000);
    t.equal(await proc.stop(), 0);
  }
});

const reloadFailures = (daemon: Daemon): string[] => daemon.logLines().filter((l) => l.includes(' event=reload-failed'));

t.test('SIGHUP with a bad value for any option keeps every running setting and logs it at error', { skip: skip.skip }, async (t) => {
  const first = await echoBackend(t);
  const second = await echoBackend(t);
  const dir = shortTempDir(t);
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ backend: [`127.0.0.1:${first.port}`], ttl: 600 }));
  const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir, args: ['--config', config] });
  t.teardown(() => daemon.stop());
  const port = daemon.listeners[0]!.port;

  for (const [name, row] of optionRows()) {
    if (name === 'config') continue;
    const [raw] = fc.sample(invalidText(name, row.kind.info, isOptional(row) && name !== 'backend'), { numRuns: 1 });
    // The good part of the file would change the backend and the TTL: none of it may apply.
    const file = { backend: [`127.0.0.1:${second.port}`], ttl: '60', ...(name === 'backend' ? {} : { [name]: raw }) };
    if (name === 'backend') file.backend = [String(raw)];
    writeFileSync(config, JSON.stringify(file));
    const before = reloadFailures(daemon).length;
    daemon.process.child.kill('SIGHUP');
    const failure = await waitUntil(`reload-failed for --${name}`, () => reloadFailures(daemon)[before], 10_000);
    t.match(failure, new RegExp(`level=error event=reload-failed code=ERR_BAD_OPTION error="--${name} `), `--${name} ${JSON.stringify(raw)}`);
  }
  t.notOk(daemon.logLines().some((l) => l.includes(' event=reloaded')), 'no reload applied');
  (await openPassthrough(port)).socket.destroy();
  t.equal(first.accepted(), 1, 'connections still go to the first backend');
  t.equal(second.accepted(), 0);
  const deployed = await daemon.cli(['deploy', 'a.example.test', 'ab:'.repeat(31) + 'ab']);
  t.ok(Date.parse(/expires (\S+)/.exec(deployed.stdout)?.[1] ?? '') - Date.now() > 120_000, 'the running TTL (600 s) still applies');

  writeFileSync(config, JSON.stringify({ backend: [`127.0.0.1:${second.port}`], ttl: '60', 'hello-timeout': '2s', 'max-challenges': 5 }));
  daemon.process.child.kill('SIGHUP');
  await waitUntil('reloaded', () => daemon.logLines().find((l) => l.includes(' event=reloaded')), 10_000);
  t.match(daemon.logLines().find((l) => l.includes(' event=reload-needs-restart')), /options=max-challenges/, 'restart-only options named as the operator writes them');
  (await openPassthrough(port)).socket.destroy();
  t.equal(second.accepted(), 1, 'a good file applies');
});
