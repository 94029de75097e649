import t from 'tap';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { decodeMessage, decodeRecord, encodeMessage, encodeRecord, isValidTtlMs } from '../../src/store/redis-records.js';

const record = { id: '0123456789abcdef', identifier: parseIdentifier('::1'), digest: new Uint8Array(32).fill(0xab) };

t.test('records and messages round-trip', async (t) => {
  const text = encodeRecord(record);
  t.equal(text, `{"v":1,"id":"0123456789abcdef","identifier":"::1","digest":"${'ab'.repeat(32)}"}`);
  t.same(decodeRecord(text), { ok: true, value: record });
  const put = { op: 'put' as const, ...record, ttlMs: 5000 };
  t.same(decodeMessage(encodeMessage(put)), { ok: true, value: put });
  const del = { op: 'delete' as const, id: 'fedcba9876543210', sni: 'a.example' };
  t.same(decodeMessage(encodeMessage(del)), { ok: true, value: del });
  t.notMatch(encodeMessage(del), /digest/, 'a delete of every deploy has no digest field, as older daemons write it');
  const one = { op: 'delete' as const, id: 'fedcba9876543210', sni: 'a.example', digest: new Uint8Array(32).fill(0xcd) };
  t.equal(encodeMessage(one), `{"v":1,"op":"delete","id":"fedcba9876543210","sni":"a.example","digest":"${'cd'.repeat(32)}"}`);
  t.same(decodeMessage(encodeMessage(one)), { ok: true, value: one }, 'a delete of one deploy carries its digest');
});

t.test('anything a daemon would not write is refused with a reason', async (t) => {
  const digest = 'ab'.repeat(32);
  const cases: [string, string, RegExp][] = [
    ['record', 'not json', /not JSON/],
    ['record', '[]', /not a JSON object/],
    ['record', `{"v":2,"id":"0123456789abcdef","identifier":"a.example","digest":"${digest}"}`, /version 1/],
    ['record', `{"v":1,"id":"0123456789abcdef","identifier":"a.example","digest":"${digest}","x":1}`, /unknown field "x"/],
    ['record', `{"v":1,"id":"XYZ","identifier":"a.example","digest":"${digest}"}`, /"id"/],
    ['record', `{"v":1,"id":"0123456789abcdef","identifier":"*.example","digest":"${digest}"}`, /"identifier"/],
    ['record', `{"v":1,"id":"0123456789abcdef","identifier":"a.example","digest":"${digest.toUpperCase()}"}`, /"digest"/],
    ['record', `{"v":1,"id":"0123456789abcdef","identifier":"a.example"}`, /"digest"/],
    ['record', `{"v":1,"id":"0123456789abcdef","identifier":"${'a'.repeat(2000)}","digest":"${digest}"}`, /longer than/],
    ['message', `{"v":1,"op":"rename","id":"0123456789abcdef"}`, /"op"/],
    ['message', `{"v":1,"op":"put","id":"0123456789abcdef","identifier":"a.example","digest":"${digest}","ttlMs":0}`, /"ttlMs"/],
    ['message', `{"v":1,"op":"put","id":"0123456789abcdef","identifier":"a.example","digest":"${digest}","ttlMs":1.5}`, /"ttlMs"/],
    ['message', `{"v":1,"op":"put","id":"0123456789abcdef","identifier":"a.example","digest":"${digest}","ttlMs":1,"sni":"a.example"}`, /unknown field "sni"/],
    ['message', `{"v":1,"op":"delete","id":"0123456789abcdef","sni":"A.Example"}`, /canonical/],
    ['message', `{"v":1,"op":"delete","id":"0123456789abcdef","sni":"a.example","digest":"${digest.toUpperCase()}"}`, /"digest"/],
    ['message', `{"v":1,"op":"delete","id":"0123456789abcdef","sni":"a.example","ttlMs":5}`, /unknown field "ttlMs"/],
  ];
  for (const [kind, text, reason] of cases) {
    const decoded = kind === 'record' ? decodeRecord(text) : decodeMessage(text);
    t.equal(decoded.ok, false, text.slice(0, 60));
    if (!decoded.ok) t.match(decoded.reason, reason, text.slice(0, 60));
  }
});

t.test('TTL bounds', async (t) => {
  t.ok(isValidTtlMs(1));
  t.ok(isValidTtlMs(7 * 24 * 3600 * 1000));
  for (const bad of [0, -1, 1.5, 7 * 24 * 3600 * 1000 + 1, '5', null]) t.notOk(isValidTtlMs(bad), String(bad));
});
