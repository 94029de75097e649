import os from 'node:os';
import t from 'tap';
import path from 'node:path';
import { envName, readServeOptions, serveYargsOptions, splitList } from '../../src/cli/options.js';
import { optionRows } from '../../src/config/serve-options.js';

const argv = {
  listen: ['0.0.0.0:443, [::]:8443'],
  control: '/run/x.sock',
  'control-mode': '0600',
  'control-group': '0',
  ttl: '120',
  'max-challenges': '5',
  'hello-timeout': '2',
  'max-hello-bytes': '1000',
  'handshake-timeout': '3s',
  backend: ['127.0.0.1:8443', 'a.test=[::1]:9443'],
  'backend-proxy-protocol': 'v2',
  'accept-proxy-protocol': true,
  'backend-connect-timeout': '4000ms',
  'idle-timeout': '1m',
  'max-connections': '500',
  'max-connections-per-source': '20',
  'handshake-rate': '15',
  'handshake-burst': '30',
  'max-control-connections': '8',
  'control-rate': '50',
  'max-control-line': '2048',
  'shutdown-timeout': '7',
  state: 'run/state.json',
  workers: '3',
  'log-level': 'warn',
};

t.test('flags become daemon options', async (t) => {
  const options = await readServeOptions({ argv, env: {} });
  t.equal(options.workers, 3);
  t.equal(options.logLevel, 'warn');
  t.same(options.backends.values, ['127.0.0.1:8443', 'a.test=[::1]:9443'], 'the --backend values, for worker processes');
  t.same(options.listen, [{ host: '0.0.0.0', port: 443 }, { host: '::', port: 8443 }]);
  t.equal(options.controlPath, '/run/x.sock');
  t.equal(options.controlMode, 0o600);
  t.equal(options.controlGid, 0);
  t.equal(options.ttlSeconds, 120);
  t.equal(options.helloTimeoutMs, 2000);
  t.equal(options.handshakeTimeoutMs, 3000);
  t.equal(options.backendConnectTimeoutMs, 4000);
  t.equal(options.idleTimeoutMs, 60_000);
  t.equal(options.shutdownTimeoutMs, 7000);
  t.equal(options.maxConnections, 500);
  t.equal(options.maxConnectionsPerSource, 20);
  t.equal(options.handshakeRate, 15);
  t.equal(options.handshakeBurst, 30);
  t.equal(options.maxControlConnections, 8);
  t.equal(options.controlCommandsPerSecond, 50);
  t.equal(options.maxControlLine, 2048);
  t.same(options.backends.rules, ['a.test=[::1]:9443', 'default=127.0.0.1:8443']);
  t.equal(options.backendProxyProtocol, 'v2');
  t.equal(options.acceptProxyProtocol, true);
  t.equal(options.statePath, path.resolve('run/state.json'), '--state is made absolute');
  t.equal((await readServeOptions({ argv: { ...argv, 'control-group': undefined }, env: {} })).controlGid, undefined);
  t.equal((await readServeOptions({ argv: { ...argv, state: undefined }, env: {} })).statePath, undefined);
  t.equal((await readServeOptions({ argv: { ...argv, state: '' }, env: {} })).statePath, undefined, 'an empty --state means memory only');
  t.equal((await readServeOptions({ argv: { ...argv, state: undefined }, env: { ALPN_RESPONDER_STATE: '' } })).statePath, undefined, 'so does an empty ALPN_RESPONDER_STATE');
});

t.test('bad values name the option and what is allowed', async (t) => {
  await t.rejects(readServeOptions({ argv: { ...argv, ttl: 'soon' }, env: {} }), { code: 'ERR_BAD_OPTION', message: /^--ttl "soon": a duration from 1s to 168h/ });
  await t.rejects(readServeOptions({ argv: { ...argv, backend: ['nowhere'] }, env: {} }), { code: 'ERR_BAD_OPTION', message: /^--backend \["nowhere"\]: HOST:PORT.*is not HOST:PORT/ });
  await t.rejects(readServeOptions({ argv: { ...argv, 'control-mode': 'rw' }, env: {} }), { code: 'ERR_BAD_OPTION', message: /^--control-mode "rw": an octal file mode/ });
  await t.rejects(readServeOptions({ argv: { ...argv, workers: '65' }, env: {} }), { code: 'ERR_BAD_OPTION', message: '--workers "65": a whole number from 1 to 64, or auto' });
  await t.rejects(readServeOptions({ argv: { ...argv, workers: 'Auto' }, env: {} }), { code: 'ERR_BAD_OPTION', message: '--workers "Auto": a whole number from 1 to 64, or auto' });
});

t.test('--workers: 1 by default, auto is one per CPU within 1 to 64', async (t) => {
  t.equal((await readServeOptions({ argv: { ...argv, workers: undefined }, env: {} })).workers, 1);
  const perCpu = Math.min(os.availableParallelism(), 64);
  t.equal((await readServeOptions({ argv: { ...argv, workers: 'auto' }, env: {} })).workers, perCpu);
  t.equal((await readServeOptions({ argv: { ...argv, workers: undefined }, env: { ALPN_RESPONDER_WORKERS: 'auto' } })).workers, perCpu, 'from the environment too');
});

t.test('an environment value the command line overrides is checked too, as a file value is', async (t) => {
  await t.rejects(readServeOptions({ argv: { ...argv, workers: '1' }, env: { ALPN_RESPONDER_WORKERS: 'abc' } }), {
    code: 'ERR_BAD_OPTION',
    message: '--workers "abc" (from ALPN_RESPONDER_WORKERS): a whole number from 1 to 64',
  });
  const file = { path: '/etc/alpn-responder.json', values: { workers: 'abc' } };
  await t.rejects(readServeOptions({ argv: { ...argv, workers: '1' }, env: {}, file }), { message: '--workers "abc" (from /etc/alpn-responder.json): a whole number from 1 to 64' }, 'the same as for the file');
  t.equal((await readServeOptions({ argv: { ...argv, workers: '1' }, env: { ALPN_RESPONDER_WORKERS: '2' } })).workers, 1, 'a good one is overridden');
});

t.test('yargs definitions come from the table, without defaults', async (t) => {
  const options = serveYargsOptions();
  t.same(Object.keys(options), optionRows().map(([name]) => name));
  t.equal(options['accept-proxy-protocol']?.type, undefined, 'a flag is untyped, so that --flag=yes reaches the check');
  t.equal(options['hello-timeout']?.type, 'string', 'checked by the table, not coerced to NaN by yargs');
  t.equal(options.listen?.array, true);
  t.notOk(Object.values(options).some((option) => 'default' in option), 'a yargs default would hide the environment and the file');
});

t.test('environment names and list splitting', async (t) => {
  t.equal(envName('control-mode'), 'ALPN_RESPONDER_CONTROL_MODE');
  t.same(splitList(['a b,c', '', ' d ']), ['a', 'b', 'c', 'd']);
});
