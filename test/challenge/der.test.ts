import t from 'tap';
import { bytesEqual, toHex } from '../../src/bytes.js';
import {
  DerError,
  DerReader,
  TAG,
  concat,
  decodeOid,
  encode,
  encodeOid,
  encodeTime,
  encodeUnsignedInteger,
} from '../../src/challenge/der.js';
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

t.test('encode: minimal long-form lengths beyond what the reader takes', async (t) => {
  t.equal(toHex(encode(TAG.OCTET_STRING, new Uint8Array(0x7f)).subarray(0, 2)), '047f');
  t.equal(toHex(encode(TAG.OCTET_STRING, new Uint8Array(0x80)).subarray(0, 3)), '048180');
  t.equal(toHex(encode(TAG.OCTET_STRING, new Uint8Array(0x10000)).subarray(0, 5)), '0483010000');
  const big = encode(TAG.OCTET_STRING, new Uint8Array(0x1000000));
  t.equal(toHex(big.subarray(0, 6)), '048401000000', '2^24 bytes: four length octets (three would wrap to zero)');
  t.equal(big.length, 6 + 0x1000000);
});

t.test('encodeOid matches the test builder and the reader', async (t) => {
  for (const dotted of ['1.3.6.1.5.5.7.1.31', '2.5.29.17', '2.5.4.3', '1.2.840.10045.4.3.2', '0.9.2342.19200300.100.1.1', '2.999.3', '0.0', '2.40', '1.39.2147483647']) {
    const der = encodeOid(dotted);
    t.equal(toHex(der), toHex(oid(dotted)), dotted);
    t.equal(decodeOid(der.subarray(2)), dotted);
  }
  t.equal(toHex(encodeOid('1.2.9007199254740991')), toHex(oid('1.2.9007199254740991')), 'any safe arc (the reader, like Go, stops at 2^31)');
  for (const bad of ['', '1', '3.1', '1.40', '0.40.1', '1.2.x', '1..2', '1.02', '1.-2', '1.2.9007199254740992']) {
    t.throws(() => encodeOid(bad), RangeError, JSON.stringify(bad));
  }
});

t.test('encodeUnsignedInteger: minimal, never negative', async (t) => {
  const hex = (...b: number[]) => toHex(encodeUnsignedInteger(bytes(...b)));
  t.equal(hex(), '020100', 'empty magnitude is zero');
  t.equal(hex(0), '020100');
  t.equal(hex(0, 0, 0), '020100', 'leading zeros dropped down to one');
  t.equal(hex(2), '020102');
  t.equal(hex(0x7f), '02017f');
  t.equal(hex(0x80), '02020080', 'top bit set: a zero octet keeps it positive');
  t.equal(hex(0, 0, 0x80, 1), '0203008001');
  t.equal(hex(0, 0x12, 0x34), '02021234');
  const serial = new Uint8Array(16).fill(0xab);
  t.equal(encodeUnsignedInteger(serial).length, 2 + 17);
});

t.test('encodeTime: UTCTime 1950–2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5)', async (t) => {
  const time = (iso: string) => {
    const der = encodeTime(new Date(iso));
    return `${der[0]!.toString(16)} ${new TextDecoder().decode(der.subarray(2))}`;
  };
  t.equal(time('1950-01-01T00:00:00Z'), '17 500101000000Z');
  t.equal(time('1999-12-31T23:59:59.999Z'), '17 991231235959Z', 'milliseconds dropped');
  t.equal(time('2000-02-29T12:00:00Z'), '17 000229120000Z');
  t.equal(time('2049-12-31T23:59:59Z'), '17 491231235959Z');
  t.equal(time('2050-01-01T00:00:00Z'), '18 20500101000000Z');
  t.equal(time('1949-12-31T23:59:59Z'), '18 19491231235959Z', 'before 1950 UTCTime cannot say it');
  t.equal(time('9999-12-31T23:59:59Z'), '18 99991231235959Z');
  t.equal(time('0001-01-01T00:00:00Z'), '18 00010101000000Z');
  t.throws(() => encodeTime(new Date(Number.NaN)), RangeError);
  t.throws(() => encodeTime(new Date('+010000-01-01T00:00:00Z')), RangeError);
  t.throws(() => encodeTime(new Date(Date.UTC(-1, 0, 1))), RangeError);
});
