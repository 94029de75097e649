import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { AlpnResponderError } from '../../src/errors.js';
import { codeOf as outcomeCode, messageOf as outcomeMessage } from '../helpers/outcome.js';
import { digestToHex, parseAuthorization } from '../../src/challenge/authorization.js';

// A key authorization in RFC 8555 §8.1 shape. Its digest was computed outside this code with
// `printf '%s' "$KA" | openssl dgst -sha256 -c -hex` (dehydrated's own command) and `sha256sum`.
const KEY_AUTHORIZATION = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI';
const DIGEST_HEX = '94233b719c905dc5472b69e75b78e3021353dc5be6d7c50dfa45996649caa183';
const DEHYDRATED = '94:23:3b:71:9c:90:5d:c5:47:2b:69:e7:5b:78:e3:02:13:53:dc:5b:e6:d7:c5:0d:fa:45:99:66:49:ca:a1:83';
const BASE64URL = 'lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM';

const codeOf = (input: string): string => outcomeCode(() => parseAuthorization(input));
const messageOf = (input: string): string => outcomeMessage(() => parseAuthorization(input));

t.test('the known vector is what node:crypto says too', async (t) => {
  t.equal(createHash('sha256').update(KEY_AUTHORIZATION).digest('hex'), DIGEST_HEX);
  t.equal(Buffer.from(DIGEST_HEX, 'hex').toString('base64url'), BASE64URL);
});

t.test('every accepted form gives the same digest', async (t) => {
  const forms = {
    'dehydrated colon hex': DEHYDRATED,
    'dehydrated colon hex, upper case': DEHYDRATED.toUpperCase(),
    'plain hex': DIGEST_HEX,
    'plain hex, upper case': DIGEST_HEX.toUpperCase(),
    base64url: BASE64URL,
    'base64url with its one padding =': `${BASE64URL}=`,
    'key authorization': KEY_AUTHORIZATION,
  };
  for (const [name, input] of Object.entries(forms)) {
    const digest = parseAuthorization(input);
    t.type(digest, Uint8Array, name);
    t.equal(digest.length, 32, name);
    t.equal(digestToHex(digest), DIGEST_HEX, name);
  }
});

t.test('digestToHex', async (t) => {
  t.equal(digestToHex(new Uint8Array(32)), '0'.repeat(64));
  t.equal(digestToHex(Uint8Array.from({ length: 32 }, (_, i) => i * 8)), Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => i * 8)).toString('hex'));
});

t.test('bad forms are refused with ERR_BAD_AUTHORIZATION', async (t) => {
  const bad = [
    '',
    ' ',
    'abc',
    DIGEST_HEX.slice(1),
    `${DIGEST_HEX}0`,
    `${DIGEST_HEX.slice(0, 62)}zz`,
    ` ${DIGEST_HEX}`,
    `${DIGEST_HEX}\n`,
    DEHYDRATED.slice(3),
    `${DEHYDRATED}:00`,
    DEHYDRATED.replace(':', '-'),
    DEHYDRATED.replaceAll(':', ' '),
    `${DEHYDRATED}:`,
    `:${DEHYDRATED}`,
    BASE64URL.slice(1),
    `${BASE64URL}A`,
    `${BASE64URL}==`,
    `${BASE64URL.slice(0, -1)}N`, // non-canonical: M + unused low bit set
    `${BASE64URL.slice(0, -1)}P`,
    `${BASE64URL.slice(0, -1)}_`,
    BASE64URL.replace('-', '+'), // standard alphabet
    `${BASE64URL.slice(0, 42)}/`,
    `${KEY_AUTHORIZATION}=`,
    `${KEY_AUTHORIZATION}A`,
    KEY_AUTHORIZATION.slice(0, -1),
    `.${KEY_AUTHORIZATION.split('.')[1]}`,
    `${KEY_AUTHORIZATION.split('.')[0]}.`,
    `a.b.${KEY_AUTHORIZATION.split('.')[1]}`,
    KEY_AUTHORIZATION.replace('-', '+'),
    `${KEY_AUTHORIZATION} `,
    KEY_AUTHORIZATION.replace('.', ' '),
    'é'.repeat(43),
    'a'.repeat(513),
    `${'a'.repeat(500)}.${'b'.repeat(43)}`,
  ];
  for (const input of bad) t.equal(codeOf(input), 'ERR_BAD_AUTHORIZATION', JSON.stringify(input).slice(0, 60));
});

t.test('messages name the accepted forms', async (t) => {
  t.match(messageOf('nope'), /^"nope" is not a key authorization: it has 4 base64url characters \(3 bytes\); a SHA-256 digest has 43 \(32 bytes\); expected .*colon-separated hex.*64 hex.*base64url.*token\.thumbprint/);
  t.match(messageOf('a'.repeat(513)), /513 characters is too long \(at most 512\)/);
  t.notMatch(messageOf('a'.repeat(513)), /a{100}/, 'a long input is not echoed');
  t.match(messageOf(`${BASE64URL.slice(0, -1)}N`), /canonical/);
  const long = messageOf('x'.repeat(200));
  t.ok(long.startsWith(`${JSON.stringify(`${'x'.repeat(80)}…`)} is not`), 'quoted and cut');
  try {
    parseAuthorization('nope');
  } catch (error) {
    t.match((error as AlpnResponderError).remedy, /DIGEST/);
  }
});

t.test('a mistyped digest: what was wrong, how many bytes, the first bad character and its position', async (t) => {
  const colon = DIGEST_HEX.match(/../g)!;
  t.match(messageOf(colon.slice(0, 31).join(':')), /colon-separated digest, but it has 31 bytes; a SHA-256 digest has 32;/);
  t.match(messageOf([...colon.slice(0, 5), 'g7', ...colon.slice(6)].join(':')), /colon-separated digest, but "g" at position 16 is not a hex digit;/);
  t.match(messageOf([...colon.slice(0, 2), 'abc', ...colon.slice(3)].join(':')), /but byte 3 is "abc", not two hex digits/);
  t.match(messageOf(`${colon.join(':')}\n`), /"\\n" at position 96 is not a hex digit/, 'a pasted newline is named');
  t.match(messageOf(DIGEST_HEX.slice(0, 63)), /it has 63 hex digits \(31 bytes\); a SHA-256 digest has 64 \(32 bytes\)/);
  t.match(messageOf(`token.${'a'.repeat(42)}`), /token\.thumbprint\), but the thumbprint after the "\." has 42 characters; a base64url SHA-256 has 43/);
  t.match(messageOf(`tok en.${'a'.repeat(43)}`), /" " at position 4 is not a base64url character/);
  t.match(messageOf(`${'a'.repeat(20)}+${'b'.repeat(22)}`), /"\+" at position 21 is not a base64url character \(that is plain base64/);
});

t.test('the 512-character bound is checked first', async (t) => {
  const token = 'a'.repeat(512 - 44);
  t.equal(digestToHex(parseAuthorization(`${token}.${'b'.repeat(43)}`)), createHash('sha256').update(`${token}.${'b'.repeat(43)}`).digest('hex'), '512 characters is fine');
  t.equal(codeOf(`a${token}.${'b'.repeat(43)}`), 'ERR_BAD_AUTHORIZATION', '513 is not');
});

t.test('property: every encoding of random digests decodes to it', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.boolean(), (bytes, upper) => {
      const hex = Buffer.from(bytes).toString('hex');
      const colon = hex.match(/../g)!.join(':');
      const forms = [
        upper ? hex.toUpperCase() : hex,
        upper ? colon.toUpperCase() : colon,
        Buffer.from(bytes).toString('base64url'),
        `${Buffer.from(bytes).toString('base64url')}=`,
      ];
      return forms.every((f) => digestToHex(parseAuthorization(f)) === hex);
    }),
    { numRuns: 1000 },
  );
  const b64url = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('')), minLength: 1, maxLength: 64 });
  fc.assert(
    fc.property(b64url, fc.uint8Array({ minLength: 32, maxLength: 32 }), (token, key) => {
      const ka = `${token}.${Buffer.from(key).toString('base64url')}`;
      return digestToHex(parseAuthorization(ka)) === createHash('sha256').update(ka, 'ascii').digest('hex');
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 runs each');
});

t.test('property: any string parses to 32 bytes or fails with our error', async (t) => {
  const near = fc.string({ unit: fc.constantFrom(...'0aF:.-_=+/ Qgw'.split('')), maxLength: 100 });
  for (const arbitrary of [fc.string({ unit: 'binary', maxLength: 600 }), near]) {
    fc.assert(
      fc.property(arbitrary, (input) => {
        try {
          return parseAuthorization(input).length === 32;
        } catch (error) {
          return error instanceof AlpnResponderError && error.code === 'ERR_BAD_AUTHORIZATION';
        }
      }),
      { numRuns: 3000 },
    );
  }
  t.pass('3000 runs each');
});
