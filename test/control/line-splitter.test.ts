import t from 'tap';
import { LineSplitter } from '../../src/control/line-splitter.js';

t.test('splits lines across chunks, strips CR', async (t) => {
  const s = new LineSplitter(100);
  t.same(s.push(Buffer.from('li')), { lines: [], overflow: false });
  t.same(s.push(Buffer.from('st\r\nstat')), { lines: ['list'], overflow: false });
  t.same(s.push(Buffer.from('us\nhelp\n')), { lines: ['status', 'help'], overflow: false });
  t.equal(s.flush(), undefined);
});

t.test('every split point of a multi-line input yields the same lines', async (t) => {
  const input = Buffer.from('deploy a.example ab\nclean a.example\r\nlist\n');
  for (let i = 0; i <= input.length; i++) {
    const s = new LineSplitter(100);
    const lines = [...s.push(input.subarray(0, i)).lines, ...s.push(input.subarray(i)).lines];
    t.same(lines, ['deploy a.example ab', 'clean a.example', 'list'], `split at ${i}`);
  }
});

t.test('caps line length with and without a newline', async (t) => {
  t.equal(new LineSplitter(5).push(Buffer.from('123456\n')).overflow, true);
  t.equal(new LineSplitter(5).push(Buffer.from('123456')).overflow, true);
  const s = new LineSplitter(5);
  t.same(s.push(Buffer.from('12345\n123')), { lines: ['12345'], overflow: false });
  t.equal(s.push(Buffer.from('456')).overflow, true);
});

t.test('flush returns an unterminated last line', async (t) => {
  const s = new LineSplitter(100);
  s.push(Buffer.from('list\r'));
  t.equal(s.flush(), 'list');
  t.equal(s.flush(), undefined);
});
