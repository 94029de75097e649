import t from 'tap';
import { formatListenAddress, parseListenAddress, parseListenIp } from '../../src/net/listen-address.js';

t.test('parses the documented forms', async (t) => {
  t.same(parseListenAddress('[::]:443'), { host: '::', port: 443 });
  t.same(parseListenAddress('0.0.0.0:443'), { host: '0.0.0.0', port: 443 });
  t.same(parseListenAddress('[::1]:8443'), { host: '::1', port: 8443 });
  t.same(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  t.same(parseListenAddress('localhost:10443'), { host: 'localhost', port: 10443 });
});

t.test('rejects the rest', async (t) => {
  for (const bad of ['', '443', '::1:443', '[::1]', '1.2.3.4:65536', '1.2.3.4:-1', 'a b:1', '[zz]:1', 'host:port']) {
    t.throws(() => parseListenAddress(bad), { code: 'ERR_BAD_LISTEN_ADDRESS' }, bad);
  }
});

t.test('formats with brackets for IPv6', async (t) => {
  t.equal(formatListenAddress({ host: '::1', port: 1 }), '[::1]:1');
  t.equal(formatListenAddress({ host: '127.0.0.1', port: 2 }), '127.0.0.1:2');
});

t.test('--listen takes IP addresses only: no names, no impossible octets', async (t) => {
  t.same(parseListenIp('[::]:443'), { host: '::', port: 443 });
  t.same(parseListenIp('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  for (const bad of ['999.1.1.1:18445', 'nonexistent.invalid:18479', 'localhost:443', '1.2.3:443', '[::g]:1']) {
    t.throws(() => parseListenIp(bad), { code: 'ERR_BAD_LISTEN_ADDRESS' }, bad);
  }
});
