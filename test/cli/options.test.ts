import t from 'tap';
import path from 'node:path';
import { envName, splitList, toDaemonOptions, type ServeArgs } from '../../src/cli/options.js';

const args: ServeArgs = {
  listen: ['0.0.0.0:443, [::]:8443'],
  control: '/run/x.sock',
  controlMode: '0600',
  controlGroup: '0',
  ttl: '120',
  maxChallenges: 5,
  helloTimeout: 2,
  maxHelloBytes: 1000,
  handshakeTimeout: 3,
  backend: ['127.0.0.1:8443', 'a.test=[::1]:9443'],
  backendProxyProtocol: 'v2',
  acceptProxyProtocol: true,
  backendConnectTimeout: 4,
  idleTimeout: 60,
  maxConnections: 500,
  maxConnectionsPerSource: 20,
  handshakeRate: 15,
  handshakeBurst: 30,
  maxControlConnections: 8,
  controlRate: 50,
  maxControlLine: 2048,
  shutdownTimeout: 7,
  state: 'run/state.json',
  workers: 3,
  logLevel: 'warn',
};

t.test('limits must be whole numbers of at least 1', async (t) => {
  for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    await t.rejects(toDaemonOptions({ ...args, maxConnections: bad }), { code: 'ERR_BAD_LIMIT' }, `--max-connections ${bad}`);
  }
  await t.rejects(toDaemonOptions({ ...args, controlRate: 0 }), { code: 'ERR_BAD_LIMIT', message: /--control-rate/ });
  await t.rejects(toDaemonOptions({ ...args, maxControlLine: 0.5 }), { code: 'ERR_BAD_LIMIT', message: /--max-control-line/ });
  await t.rejects(toDaemonOptions({ ...args, handshakeRate: 0 }), { code: 'ERR_BAD_LIMIT', message: /--handshake-rate/ });
  await t.rejects(toDaemonOptions({ ...args, handshakeBurst: Number.NaN }), { code: 'ERR_BAD_LIMIT', message: /--handshake-burst/ });
});

t.test('--workers is a whole number from 1 to 64', async (t) => {
  for (const bad of [0, 65, 1.5, Number.NaN]) {
    await t.rejects(toDaemonOptions({ ...args, workers: bad }), { code: 'ERR_BAD_WORKERS', message: /--workers/ }, `--workers ${bad}`);
  }
  t.equal((await toDaemonOptions({ ...args, workers: 64 })).workers, 64);
});

t.test('flags become daemon options', async (t) => {
  const options = await toDaemonOptions(args);
  t.equal(options.workers, 3);
  t.equal(options.logLevel, 'warn');
  t.same(options.backends.values, ['127.0.0.1:8443', 'a.test=[::1]:9443'], 'the --backend values, for worker processes');
  t.same(options.listen, [{ host: '0.0.0.0', port: 443 }, { host: '::', port: 8443 }]);
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
  t.equal((await toDaemonOptions({ ...args, controlGroup: undefined })).controlGid, undefined);
  t.equal(options.statePath, path.resolve('run/state.json'), '--state is made absolute');
  t.equal((await toDaemonOptions({ ...args, state: undefined })).statePath, undefined);
  t.equal((await toDaemonOptions({ ...args, state: '' })).statePath, undefined, 'an empty ALPN_RESPONDER_STATE means memory only');
});

t.test('bad values name the problem', async (t) => {
  await t.rejects(toDaemonOptions({ ...args, ttl: 'soon' }), { code: 'ERR_BAD_TTL' });
  await t.rejects(toDaemonOptions({ ...args, backend: ['nowhere'] }), { code: 'ERR_BAD_BACKEND' });
  await t.rejects(toDaemonOptions({ ...args, controlMode: 'rw' }), { code: 'ERR_BAD_MODE' });
});

t.test('environment names and list splitting', async (t) => {
  t.equal(envName('control-mode'), 'ALPN_RESPONDER_CONTROL_MODE');
  t.same(splitList(['a b,c', '', ' d ']), ['a', 'b', 'c', 'd']);
});
