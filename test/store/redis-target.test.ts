import t from 'tap';
import { hasCode } from '../../src/errors.js';
import { reconnectDelay, RECONNECT_MAX_MS } from '../../src/store/redis-connection.js';
import { parseRedisTarget } from '../../src/store/redis-target.js';
import { parseStoreConfig } from '../../src/store/store-config.js';

t.test('standalone URLs', async (t) => {
  t.same(parseRedisTarget('redis://127.0.0.1:6380/2'), {
    display: 'redis://127.0.0.1:6380/2',
    username: undefined,
    password: undefined,
    tls: false,
    kind: 'standalone',
    host: { host: '127.0.0.1', port: 6380 },
    db: 2,
  });
  const secure = parseRedisTarget('rediss://alpn:p%40ss:w@redis.example.net');
  t.match(secure, { kind: 'standalone', tls: true, username: 'alpn', password: 'p@ss:w', host: { host: 'redis.example.net', port: 6379 }, db: 0 });
  t.equal(secure.display, 'rediss://alpn:***@redis.example.net', 'the password never shows');
  t.match(parseRedisTarget('redis://:secret@[::1]:7000/'), { username: undefined, password: 'secret', host: { host: '::1', port: 7000 } });
  t.match(parseRedisTarget('REDIS://h'), { kind: 'standalone', host: { host: 'h', port: 6379 } });
});

t.test('Sentinel and Cluster URLs', async (t) => {
  t.match(parseRedisTarget('redis+sentinel://u:p@s1,s2:26380,[::1]/mymaster/3'), {
    kind: 'sentinel',
    sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }, { host: '::1', port: 26379 }],
    masterName: 'mymaster',
    db: 3,
    username: 'u',
    password: 'p',
  });
  t.match(parseRedisTarget('rediss+sentinel://s1/m'), { kind: 'sentinel', tls: true, db: 0 });
  t.match(parseRedisTarget('redis+cluster://n1:7000,n2:7001/'), { kind: 'cluster', nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 7001 }] });
});

t.test('refuses anything else with ERR_BAD_STORE, never echoing the password', async (t) => {
  const bad = [
    'localhost:6379',
    'http://h:6379',
    'redis://',
    'redis://h:0',
    'redis://h:65536',
    'redis://h:port',
    'redis://h/x',
    'redis://h/1/2',
    'redis://h?tls=true',
    'redis://h#x',
    'redis://a,b',
    'redis://[not-ip]:1',
    'redis://bad_host!',
    'redis+sentinel://s1',
    'redis+sentinel://s1/bad name',
    'redis+cluster://n1/0',
    'redis://u:%zz@h',
    `redis://${'h,'.repeat(20)}h`,
    `redis://h/${'9'.repeat(9)}`,
    `redis://${'a'.repeat(3000)}`,
  ];
  for (const url of bad) {
    t.throws(() => parseRedisTarget(url), { code: 'ERR_BAD_STORE' }, url);
  }
  try {
    parseRedisTarget('redis://u:topsecret@h:99999');
    t.fail('accepted');
  } catch (error) {
    t.ok(hasCode(error, 'ERR_BAD_STORE'));
    t.notMatch((error as Error).message, /topsecret/);
  }
});

t.test('store flags', async (t) => {
  t.equal(parseStoreConfig({ store: undefined, state: undefined }), undefined, 'no --store, no shared store');
  t.equal(parseStoreConfig({ store: '', state: '/x', storePrefix: '' }), undefined, 'an empty --store is no --store');
  t.match(parseStoreConfig({ store: 'redis://h', state: undefined }), { prefix: 'alpn-responder:', fallback: 'none', timeoutMs: 2000 });
  t.match(parseStoreConfig({ store: 'redis://h', state: '', storePrefix: '{fleet-b}:', storeFallback: 'memory', storeTimeout: 0.5 }), {
    prefix: '{fleet-b}:',
    fallback: 'memory',
    timeoutMs: 500,
  });
  t.throws(() => parseStoreConfig({ store: 'redis://h', state: 'state.json' }), { code: 'ERR_BAD_STORE', message: /--state/ });
  for (const storePrefix of ['', 'a b', 'x'.repeat(65), 'é']) {
    t.throws(() => parseStoreConfig({ store: 'redis://h', state: undefined, storePrefix }), { code: 'ERR_BAD_STORE' }, JSON.stringify(storePrefix));
  }
  t.throws(() => parseStoreConfig({ store: 'redis://h', state: undefined, storeFallback: 'disk' }), { code: 'ERR_BAD_STORE' });
  for (const storeTimeout of [0, -1, 601, Number.NaN]) {
    t.throws(() => parseStoreConfig({ store: 'redis://h', state: undefined, storeTimeout }), { code: 'ERR_BAD_TIMEOUT' }, String(storeTimeout));
  }
});

t.test('reconnect delays grow, are capped and jittered', async (t) => {
  const mid = () => 0.5;
  t.equal(reconnectDelay(1, mid), 50);
  t.equal(reconnectDelay(2, mid), 100);
  t.equal(reconnectDelay(100, mid), RECONNECT_MAX_MS);
  t.equal(reconnectDelay(100, () => 0), RECONNECT_MAX_MS * 0.8);
  t.equal(reconnectDelay(100, () => 1), RECONNECT_MAX_MS * 1.2);
});
