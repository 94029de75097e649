import t from 'tap';
import { isJsonObject, quoteValue } from '../src/json-value.js';

t.test('quoteValue shows a value as JSON, cut to the limit', async (t) => {
  t.equal(quoteValue('x'), '"x"');
  t.equal(quoteValue(42), '42');
  t.equal(quoteValue(null), 'null');
  t.equal(quoteValue([1, 'a', { b: [true] }]), '[1,"a",{"b":[true]}]');
  t.equal(quoteValue({ a: 1, skipped: undefined, c: [] }), '{"a":1,"c":[]}');
  t.equal(quoteValue([]), '[]');
  t.equal(quoteValue({}), '{}');
  t.equal(quoteValue('a'.repeat(100), 10), `"${'a'.repeat(9)}…`);
  t.equal(quoteValue([1, 2, 3, 4, 5, 6], 5), '[1,2,…');
  for (const value of [[1, [2, [3]], { k: 'v' }], { 'a"b': [null, 'x'] }, 'tab\there', [[], {}]]) {
    t.equal(quoteValue(value, 1000), JSON.stringify(value), `the same as JSON.stringify: ${JSON.stringify(value)}`);
  }
});

t.test('quoteValue never recurses deeper than the limit: 400,000 nested arrays are quoted, not a stack overflow', async (t) => {
  let deep: unknown = [];
  for (let i = 0; i < 400_000; i++) deep = [deep];
  t.equal(quoteValue(deep, 60), `${'['.repeat(60)}…`);
  let deepObject: unknown = {};
  for (let i = 0; i < 400_000; i++) deepObject = { a: deepObject };
  t.equal(quoteValue(deepObject, 12), '{"a":{"a":{"…');
  t.ok(isJsonObject({}) && !isJsonObject([]) && !isJsonObject(null));
});
