import t from 'tap';
import { LineSplitter, OVERLONG } from '../../src/control/line-splitter.js';

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

t.test('append and next take one line at a time and count what is held', async (t) => {
  const s = new LineSplitter(10);
  t.equal(s.append(Buffer.from('a\nbb\r\nccc')), true);
  t.equal(s.lines, 2);
  t.equal(s.hasTail, true);
  t.equal(s.next(), 'a');
  t.equal(s.lines, 1);
  t.equal(s.next(), 'bb');
  t.equal(s.next(), undefined);
  t.equal(s.lines, 0);
  t.equal(s.flush(), 'ccc');
  t.equal(s.hasTail, false);
});

t.test('append reports an overlong tail; next reports an overlong complete line', async (t) => {
  const s = new LineSplitter(3);
  t.equal(s.append(Buffer.from('ok\n12345')), false);
  t.equal(s.next(), 'ok');
  t.equal(s.next(), OVERLONG);
  const u = new LineSplitter(3);
  t.equal(u.append(Buffer.from('12345\nok\n')), true);
  t.equal(u.next(), OVERLONG);
});
