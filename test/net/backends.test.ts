import t from 'tap';
import { parseBackends } from '../../src/net/backends.js';

t.test('exact names, longest wildcard, then the default', async (t) => {
  const table = parseBackends([
    '127.0.0.1:8443',
    'Example.ORG.=127.0.0.1:9001',
    '*.example.org=127.0.0.1:9002',
    '*.deep.example.org=[::1]:9003',
  ]);
  const port = (name: string | undefined) => table.lookup(name)?.port;
  t.equal(port('example.org'), 9001);
  t.equal(port('www.example.org'), 9002);
  t.equal(port('a.deep.example.org'), 9003);
  t.equal(port('deep.example.org'), 9002, 'a wildcard does not match its own base name');
  t.equal(port('other.test'), 8443);
  t.equal(port(undefined), 8443, 'no SNI goes to the default');
  t.same(table.lookup('a.deep.example.org'), { host: '::1', port: 9003 });
  t.same(table.rules, ['example.org=127.0.0.1:9001', '*.deep.example.org=[::1]:9003', '*.example.org=127.0.0.1:9002', 'default=127.0.0.1:8443']);
});

t.test('no default: unmatched names have no backend', async (t) => {
  const table = parseBackends(['a.test=127.0.0.1:1']);
  t.equal(table.lookup('b.test'), undefined);
  t.equal(table.lookup(undefined), undefined);
  t.same(parseBackends([]).rules, []);
});

t.test('bad values', async (t) => {
  for (const bad of [
    ['nonsense'],
    ['a.test=nonsense'],
    ['127.0.0.1:0'],
    ['127.0.0.1:1', '127.0.0.1:2'],
    ['a.test=127.0.0.1:1', 'A.test=127.0.0.1:2'],
    ['exa mple=127.0.0.1:1'],
    ['*=127.0.0.1:1'],
    ['a.*.test=127.0.0.1:1'],
    ['=127.0.0.1:1'],
  ]) {
    t.throws(() => parseBackends(bad), { code: 'ERR_BAD_BACKEND' }, bad.join(' '));
  }
});
