import t from 'tap';
import { DerError, DerReader, TAG, bytesEqual, concat, decodeOid, encode, toHex } from '../../src/challenge/der.js';
import { oid } from './cert-builder.js';

const bytes = (...b: number[]) => new Uint8Array(b);
const readError = (b: Uint8Array): string => {
  try {
    new DerReader(b).readAny();
    return 'read';
  } catch (error) {
    if (!(error instanceof DerError)) throw error;
    return error.message;
  }
};

t.test('reader accepts DER and refuses everything looser', async (t) => {
  const r = new DerReader(bytes(0x30, 0x03, 0x02, 0x01, 0x05, 0x04, 0x00));
  const seq = r.read(TAG.SEQUENCE, 'sequence');
  t.same(seq, { tag: 0x30, start: 0, contentStart: 2, end: 5 });
  t.same(r.readOptional(TAG.INTEGER), undefined);
  t.equal(r.peekTag(), TAG.OCTET_STRING);
  t.same(r.readAny(), { tag: 0x04, start: 5, contentStart: 7, end: 7 });
  t.ok(r.empty);
  t.doesNotThrow(() => r.finish('all'));
  t.equal(r.peekTag(), undefined);
  t.equal(readError(new Uint8Array(0)), 'unexpected end of data');
  t.equal(readError(bytes(0x30)), 'truncated length');
  t.equal(readError(bytes(0x1f, 0x01, 0x00)), 'high-tag-number form is not supported');
  t.equal(readError(bytes(0x30, 0x80, 0x00, 0x00)), 'indefinite length');
  t.equal(readError(bytes(0x04, 0x81, 0x05, 1, 2, 3, 4, 5)), 'non-minimal length');
  t.equal(readError(bytes(0x04, 0x82, 0x00, 0x80, ...new Uint8Array(128))), 'non-minimal length');
  t.equal(readError(bytes(0x04, 0x85, 1, 0, 0, 0, 0)), 'length too large');
  t.equal(readError(bytes(0x04, 0x82, 0x01)), 'truncated length');
  t.equal(readError(bytes(0x04, 0x02, 0x01)), 'length exceeds data');
  t.equal(readError(bytes(0x04, 0x84, 0xff, 0xff, 0xff, 0xff)), 'length exceeds data');
  t.equal(readError(concat(bytes(0x04, 0x81, 0x80), new Uint8Array(0x80))), 'read');
  t.throws(() => new DerReader(bytes(0x05, 0x00, 0x05, 0x00)).read(TAG.SEQUENCE, 'thing'), /malformed thing/);
  t.throws(() => {
    const r2 = new DerReader(bytes(0x05, 0x00, 0x05, 0x00));
    r2.readAny();
    r2.finish('thing');
  }, /trailing data after thing/);
  const inner = new DerReader(bytes(0x30, 0x02, 0x05, 0x00, 0xff), 2, 4);
  t.same(inner.readAny(), { tag: 0x05, start: 2, contentStart: 4, end: 4 });
  t.ok(inner.empty, 'a reader stops at its limit');
  t.throws(() => new DerReader(bytes(1, 2), 3), DerError);
});

t.test('encode round-trips every length form', async (t) => {
  for (const n of [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000]) {
    const body = new Uint8Array(n).fill(7);
    const der = encode(TAG.OCTET_STRING, body);
    const tlv = new DerReader(der).readAny();
    t.equal(tlv.end, der.length, `length ${n}`);
    t.equal(tlv.end - tlv.contentStart, n);
  }
});

t.test('OIDs', async (t) => {
  for (const dotted of ['1.3.6.1.5.5.7.1.31', '2.5.29.17', '1.2.840.113549.1.1.11', '0.9.2342.19200300.100.1.1', '2.999.3', '1.2.840.10045.3.1.7']) {
    const der = oid(dotted);
    t.equal(decodeOid(der.subarray(2)), dotted);
  }
  t.throws(() => decodeOid(new Uint8Array()), /empty OID/);
  t.throws(() => decodeOid(bytes(0x2b, 0x80, 0x01)), /non-minimal/);
  t.throws(() => decodeOid(bytes(0x2b, 0x86)), /truncated/);
  t.throws(() => decodeOid(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)), /too large/);
});

t.test('byte helpers', async (t) => {
  t.ok(bytesEqual(bytes(1, 2), bytes(1, 2)));
  t.notOk(bytesEqual(bytes(1, 2), bytes(1, 3)));
  t.notOk(bytesEqual(bytes(1), bytes(1, 2)));
  t.equal(toHex(bytes(0, 15, 255)), '000fff');
  t.same(concat(bytes(1), bytes(), bytes(2, 3)), bytes(1, 2, 3));
});
