import t from 'tap';
import fc from 'fast-check';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { AlpnResponderError } from '../../src/errors.js';
import type { Challenge } from '../../src/challenge/challenge.js';
import { MAX_STATE_BYTES, decodeState, encodeState } from '../../src/store/state-format.js';

const now = new Date('2030-05-06T07:08:09.000Z');
const later = (seconds: number) => new Date(now.getTime() + seconds * 1000);
const hex = (byte: number) => byte.toString(16).padStart(2, '0').repeat(32);
const bytes = (text: string) => new TextEncoder().encode(text);
const decodeJson = (value: unknown) => decodeState(bytes(JSON.stringify(value)), now);

function challenge(identifier: string, fill: number, expiresAt: Date): Challenge {
  return { identifier: parseIdentifier(identifier), digest: new Uint8Array(32).fill(fill), expiresAt };
}

const good = { identifier: 'a.example', digest: hex(1), expiresAt: later(60).toISOString() };

t.test('round trip keeps identifier, digest and expiry, canonical and sorted', async (t) => {
  const challenges = [
    challenge('B.Example.', 2, later(120)),
    challenge('2001:DB8::1', 3, later(3600)),
    challenge('4.3.2.1.in-addr.arpa', 4, later(1)),
  ];
  const text = encodeState(challenges);
  t.match(text, /^\{\n  "version": 1,/, 'one deploy per name: version 1');
  const document = JSON.parse(text) as { challenges: { identifier: string }[] };
  t.same(
    document.challenges.map((c) => c.identifier),
    ['1.2.3.4', '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa', 'b.example']
      .map((sni) => parseIdentifier(sni))
      .sort((a, b) => (a.sni < b.sni ? -1 : 1))
      .map((id) => (id.kind === 'dns' ? id.name : id.address)),
    'sorted by SNI, written in canonical form',
  );
  t.notMatch(text, /PRIVATE|key/i, 'no key material, no key field');
  const decoded = decodeState(bytes(text), now);
  t.equal(decoded.expired, 0);
  const bySni = (list: readonly Challenge[]) => [...list].sort((a, b) => (a.identifier.sni < b.identifier.sni ? -1 : 1));
  t.same(bySni(decoded.challenges), bySni(challenges));
});

t.test('expired entries are counted and dropped', async (t) => {
  const decoded = decodeState(
    bytes(encodeState([challenge('a.example', 1, later(-1)), challenge('b.example', 2, now), challenge('c.example', 3, later(1))])),
    now,
  );
  t.equal(decoded.expired, 2, 'an expiry at exactly now is expired');
  t.same(decoded.challenges.map((c) => c.identifier.sni), ['c.example']);
});

t.test('an empty state decodes to nothing', async (t) => {
  t.same(decodeState(bytes(encodeState([])), now), { challenges: [], expired: 0 });
});

t.test('every bad field is refused with a precise reason', async (t) => {
  const entry = (patch: Record<string, unknown>) => ({ version: 1, challenges: [good, { ...good, identifier: 'b.example', ...patch }] });
  const cases: [string, Uint8Array | unknown, RegExp][] = [
    ['not UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), /^it is not UTF-8 text$/],
    ['not JSON', bytes('{"version": 1,'), /^it is not JSON$/],
    ['empty file', bytes(''), /^it is not JSON$/],
    ['a foreign file', bytes('root:$y$j9T$secret:19000:0:99999:7:::\n'), /^it is not JSON$/],
    ['array at top', [], /^the top level is not a JSON object$/],
    ['null at top', null, /^the top level is not a JSON object$/],
    ['unknown top field', { version: 1, challenges: [], keys: [] }, /^it has a top-level field other than "version" and "challenges"$/],
    ['no version', { challenges: [] }, /^"version" is missing$/],
    ['other version', { version: 3, challenges: [] }, /^"version" is not one this daemon reads \(1 or 2; it is a number\)$/],
    ['version as text', { version: '1', challenges: [] }, /^"version" is not one this daemon reads \(1 or 2; it is a string\)$/],
    ['no challenges', { version: 1 }, /^"challenges" is missing or not an array$/],
    ['challenges object', { version: 1, challenges: {} }, /^"challenges" is missing or not an array$/],
    ['entry not object', { version: 1, challenges: [good, 'a.example'] }, /^challenges\[1\] is not a JSON object$/],
    ['unknown entry field', entry({ privateKey: 'x' }), /^challenges\[1\] has a field other than "identifier", "digest" and "expiresAt"$/],
    ['missing identifier', entry({ identifier: undefined }), /^challenges\[1\]\.identifier is missing$/],
    ['identifier number', entry({ identifier: 7 }), /^challenges\[1\]\.identifier is a number, not a string$/],
    ['bad identifier', entry({ identifier: 'a..example' }), /^challenges\[1\]\.identifier is not a DNS name or IP address that can be deployed \(ERR_BAD_IDENTIFIER\)$/],
    ['wildcard', entry({ identifier: '*.example' }), /^challenges\[1\]\.identifier is not .* \(ERR_WILDCARD_IDENTIFIER\)$/],
    ['missing digest', entry({ digest: undefined }), /^challenges\[1\]\.digest is missing$/],
    ['short digest', entry({ digest: 'abcd' }), /^challenges\[1\]\.digest is not 64 lower-case hex digits$/],
    ['upper-case digest', entry({ digest: hex(0xab).toUpperCase() }), /^challenges\[1\]\.digest is not 64 lower-case hex digits$/],
    ['colon digest', entry({ digest: Array(32).fill('ab').join(':') }), /^challenges\[1\]\.digest is not 64 lower-case hex/],
    ['missing expiry', entry({ expiresAt: undefined }), /^challenges\[1\]\.expiresAt is missing$/],
    ['expiry number', entry({ expiresAt: later(5).getTime() }), /^challenges\[1\]\.expiresAt is a number, not a string$/],
    ['expiry not ISO', entry({ expiresAt: 'tomorrow' }), /^challenges\[1\]\.expiresAt is not a UTC time like/],
    ['expiry with offset', entry({ expiresAt: '2030-05-06T09:08:09.000+02:00' }), /^challenges\[1\]\.expiresAt is not a UTC time/],
    ['impossible date', entry({ expiresAt: '2030-02-30T00:00:00.000Z' }), /^challenges\[1\]\.expiresAt is not a UTC time/],
    ['expiry too far', entry({ expiresAt: later(604_801).toISOString() }), /^challenges\[1\]\.expiresAt is more than 604800 seconds after now$/],
    ['duplicate name in version 1', entry({ identifier: 'A.EXAMPLE.' }), /^challenges\[1\] names the identifier of challenges\[0\] again, which version 1 does not allow$/],
    ['duplicate IP in two forms', { version: 1, challenges: [{ ...good, identifier: '1.2.3.4' }, { ...good, identifier: '4.3.2.1.in-addr.arpa' }] }, /^challenges\[1\] names the identifier of challenges\[0\] again/],
    ['same deploy twice in version 2', { version: 2, challenges: [good, { ...good, identifier: 'A.example' }] }, /^challenges\[1\] repeats the identifier and digest of challenges\[0\]$/],
    ['too many deploys of a name', { version: 2, challenges: [1, 2, 3, 4, 5].map((fill) => ({ ...good, digest: hex(fill) })) }, /^challenges\[4\] is deploy 5 of one identifier; at most 4 are kept$/],
  ];
  for (const [name, input, reason] of cases) {
    try {
      if (input instanceof Uint8Array) decodeState(input, now);
      else decodeJson(input);
      t.fail(`${name}: accepted`);
    } catch (error) {
      t.ok(error instanceof AlpnResponderError && error.code === 'ERR_STATE_CORRUPT', `${name}: ERR_STATE_CORRUPT`);
      t.match((error as Error).message, reason, name);
    }
  }
  t.same(decodeJson(entry({})).challenges.length, 2, 'the unpatched entry is valid');
});

t.test('no reason quotes the file: a secret in any field never reaches the message', async (t) => {
  const secret = 'root:$y$j9T$secret';
  const documents: unknown[] = [
    { version: secret, challenges: [] },
    { version: 1, challenges: [], [secret]: 1 },
    { version: 1, challenges: [{ ...good, [secret]: 1 }] },
    { version: 1, challenges: [{ ...good, identifier: secret }] },
    { version: 1, challenges: [{ ...good, digest: secret }] },
    { version: 1, challenges: [{ ...good, expiresAt: secret }] },
  ];
  const reason = (decode: () => unknown): string => {
    try {
      decode();
    } catch (error) {
      return (error as Error).message;
    }
    return 'accepted';
  };
  for (const document of [...documents.map((d) => () => decodeJson(d)), () => decodeState(bytes(`${secret}\n`), now)]) {
    const message = reason(document);
    t.ok(message !== 'accepted' && !/secret|root/.test(message), message);
  }
});

t.test('version 2: several deploys of a name, oldest first, kept in order; version 1 while there is one each', async (t) => {
  const stacked = [challenge('b.example', 1, later(60)), challenge('a.example', 3, later(30)), challenge('b.example', 2, later(90))];
  const text = encodeState(stacked);
  t.match(text, /^\{\n  "version": 2,/);
  const decoded = decodeState(bytes(text), now);
  t.same(decoded.challenges.map((c) => `${c.identifier.sni} ${c.digest[0]}`), ['a.example 3', 'b.example 1', 'b.example 2'], 'sorted by name, each name\'s deploys in the order given');
  t.match(encodeState([challenge('a.example', 1, later(60))]), /^\{\n  "version": 1,/, 'one deploy per name: version 1, which older daemons read');
  const v1 = { version: 1, challenges: [good, { ...good, identifier: 'b.example' }] };
  t.equal(decodeJson(v1).challenges.length, 2, 'version 1 files are still read');
});

t.test('a file over the size bound is refused before parsing', async (t) => {
  t.throws(() => decodeState(new Uint8Array(MAX_STATE_BYTES + 1), now), { code: 'ERR_STATE_CORRUPT', message: `it is larger than ${MAX_STATE_BYTES} bytes` });
});

t.test('property: any input decodes or throws ERR_STATE_CORRUPT, nothing else', async (t) => {
  const onlyOurError = (input: Uint8Array): boolean => {
    try {
      decodeState(input, now);
    } catch (error) {
      if (!(error instanceof AlpnResponderError && error.code === 'ERR_STATE_CORRUPT')) throw error;
    }
    return true;
  };
  // Arbitrary JSON, and near-valid documents that reach the per-field checks.
  const text = (value: unknown) => bytes(JSON.stringify(value));
  const field = fc.oneof(fc.jsonValue(), fc.constantFrom(good.identifier, good.digest, good.expiresAt, '1.2.3.4', '::1', '*.x'));
  const nearEntry = fc.dictionary(fc.constantFrom('identifier', 'digest', 'expiresAt', 'key', '__proto__'), field);
  const nearDocument = fc.record({
    version: fc.oneof(fc.constant(1), fc.jsonValue()),
    challenges: fc.oneof(fc.array(fc.oneof(nearEntry, fc.jsonValue()), { maxLength: 5 }), fc.jsonValue()),
  }, { requiredKeys: [] });
  fc.assert(fc.property(fc.json(), (json) => onlyOurError(bytes(json))), { numRuns: 500 });
  fc.assert(fc.property(nearDocument, (document) => onlyOurError(text(document))), { numRuns: 500 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), onlyOurError), { numRuns: 300 });
  t.pass('no other exception for random input');
});
