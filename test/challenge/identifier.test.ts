import t from 'tap';
import fc from 'fast-check';
import net from 'node:net';
import { AlpnResponderError } from '../../src/errors.js';
import { codeOf as outcomeCode, messageOf as outcomeMessage } from '../helpers/outcome.js';
import { formatIdentifier, parseIdentifier, reverseName, type Identifier } from '../../src/challenge/identifier.js';
import { formatIpAddress, parseIPv6 } from '../../src/ip-address.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const codeOf = (input: string): string => outcomeCode(() => parseIdentifier(input));
const messageOf = (input: string): string => outcomeMessage(() => parseIdentifier(input));

/** A plain-object view, easier to compare. */
function view(id: Identifier): Record<string, string> {
  return id.kind === 'dns'
    ? { kind: 'dns', name: id.name, sni: id.sni }
    : { kind: 'ip', address: id.address, bytes: hex(id.bytes), sni: id.sni };
}

const V6_DOC_SNI = '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa';

t.test('DNS names', async (t) => {
  const dns = (name: string) => ({ kind: 'dns', name, sni: name });
  t.same(view(parseIdentifier('example.org')), dns('example.org'));
  t.same(view(parseIdentifier('Example.ORG')), dns('example.org'));
  t.same(view(parseIdentifier('example.org.')), dns('example.org'), 'one trailing dot tolerated');
  t.same(view(parseIdentifier('localhost')), dns('localhost'), 'a single label is fine');
  t.same(view(parseIdentifier('xn--bcher-kva.example')), dns('xn--bcher-kva.example'), 'punycode IDN');
  t.same(view(parseIdentifier('XN--BCHER-KVA.Example')), dns('xn--bcher-kva.example'));
  t.same(view(parseIdentifier('a-b.c0.example')), dns('a-b.c0.example'));
  t.same(view(parseIdentifier('123.example')), dns('123.example'), 'numeric labels are fine before the last');
  t.same(view(parseIdentifier('0.example')), dns('0.example'));
  const label63 = 'a'.repeat(63);
  t.same(view(parseIdentifier(`${label63}.example`)), dns(`${label63}.example`));
  const name253 = [label63, label63, label63, 'b'.repeat(61)].join('.');
  t.equal(name253.length, 253);
  t.same(view(parseIdentifier(name253)), dns(name253));
  t.same(view(parseIdentifier(`${name253}.`)), dns(name253), '253 + trailing dot');
  t.equal(formatIdentifier(parseIdentifier('Example.org.')), 'example.org');
  t.same(view(parseIdentifier('1.2.3.4e0')), dns('1.2.3.4e0'), 'a last label that is no number makes a DNS name');
});

t.test('IPv4 literals and their reverse names', async (t) => {
  t.same(view(parseIdentifier('192.0.2.1')), {
    kind: 'ip',
    address: '192.0.2.1',
    bytes: 'c0000201',
    sni: '1.2.0.192.in-addr.arpa',
  });
  t.same(view(parseIdentifier('0.0.0.0')), { kind: 'ip', address: '0.0.0.0', bytes: '00000000', sni: '0.0.0.0.in-addr.arpa' });
  t.same(view(parseIdentifier('255.255.255.255')).bytes, 'ffffffff');
  t.same(view(parseIdentifier('10.20.30.40')).sni, '40.30.20.10.in-addr.arpa');
  t.same(view(parseIdentifier('1.2.0.192.in-addr.arpa')), view(parseIdentifier('192.0.2.1')), 'reverse → IP identifier');
  t.same(view(parseIdentifier('1.2.0.192.IN-ADDR.ARPA.')), view(parseIdentifier('192.0.2.1')), 'any case, trailing dot');
  t.equal(formatIdentifier(parseIdentifier('1.2.0.192.in-addr.arpa')), '192.0.2.1');
});

t.test('IPv6 literals and their reverse names', async (t) => {
  const doc = { kind: 'ip', address: '2001:db8::1', bytes: '20010db8000000000000000000000001', sni: V6_DOC_SNI };
  t.same(view(parseIdentifier('2001:db8::1')), doc);
  t.same(view(parseIdentifier('2001:DB8::1')), doc, 'upper case');
  t.same(view(parseIdentifier('[2001:db8::1]')), doc, 'bracketed');
  t.same(view(parseIdentifier('2001:0db8:0000:0000:0000:0000:0000:0001')), doc, 'full form');
  t.same(view(parseIdentifier('2001:db8:0:0:0:0:0:1')), doc);
  t.same(view(parseIdentifier(V6_DOC_SNI)), doc, 'ip6.arpa → IP identifier');
  t.same(view(parseIdentifier(`${V6_DOC_SNI.toUpperCase()}.`)), doc, 'ip6.arpa any case, trailing dot');
  t.equal(parseIdentifier('::1').sni, `1${'.0'.repeat(31)}.ip6.arpa`);
  t.equal(formatIdentifier(parseIdentifier('::')), '::');
  t.equal(formatIdentifier(parseIdentifier('::1')), '::1');
  t.equal(formatIdentifier(parseIdentifier('1::')), '1::');
  t.equal(formatIdentifier(parseIdentifier('1:2:3:4:5:6:7::')), '1:2:3:4:5:6:7:0', 'a single zero group is not compressed');
  t.equal(formatIdentifier(parseIdentifier('2001:db8:0:1:1:1:1:1')), '2001:db8:0:1:1:1:1:1');
  t.equal(formatIdentifier(parseIdentifier('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1', 'first of equal runs');
  t.equal(formatIdentifier(parseIdentifier('2001:0:0:1:0:0:0:1')), '2001:0:0:1::1', 'longest run');
  t.equal(formatIdentifier(parseIdentifier('FE80::0001')), 'fe80::1');
  // IPv4-mapped: 16 bytes, RFC 5952 §5 text.
  const mapped = parseIdentifier('::ffff:192.0.2.1');
  t.same(view(mapped), {
    kind: 'ip',
    address: '::ffff:192.0.2.1',
    bytes: '00000000000000000000ffffc0000201',
    sni: '1.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa',
  });
  t.same(view(parseIdentifier('::FFFF:c000:0201')), view(mapped));
  t.same(view(parseIdentifier('0:0:0:0:0:ffff:192.0.2.1')), view(mapped));
  t.same(view(parseIdentifier('[::ffff:192.0.2.1]')), view(mapped));
  t.same(view(parseIdentifier(mapped.sni)), view(mapped));
  t.equal(formatIdentifier(parseIdentifier('::1.2.3.4')), '::102:304', 'deprecated IPv4-compatible form in hex');
  t.equal(formatIdentifier(parseIdentifier('64:ff9b::192.0.2.1')), '64:ff9b::c000:201');
});

t.test('wildcards', async (t) => {
  for (const input of ['*.example.org', '*', '*.', 'foo.*.example', 'a*b.example', '*.192.0.2.1']) {
    t.equal(codeOf(input), 'ERR_WILDCARD_IDENTIFIER', input);
  }
  t.match(messageOf('*.example.org'), /^"\*\.example\.org" is a wildcard/);
});

t.test('bad identifiers', async (t) => {
  const bad = [
    '',
    ' ',
    '.',
    '..',
    'exa mple.org',
    ' example.org',
    'example.org ',
    'example.org\n',
    'exa\tmple.org',
    'exa\u0000mple.org',
    'exa\u007fmple.org',
    'bücher.example',
    'пример.рф',
    'example.org\u200b',
    'a_b.example',
    '_acme-challenge.example.org',
    '-a.example',
    'a-.example',
    'a..b',
    '.example',
    'example..',
    'example/org',
    'http://example.org',
    'example.org:443',
    'user@example.org',
    'exa%mple.org',
    `${'a'.repeat(64)}.example`,
    [...Array(4)].map(() => 'a'.repeat(63)).join('.'),
    'a'.repeat(300),
    // IPv4-looking
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.00',
    '256.1.1.1',
    '1.2.3.256',
    '1.2.3',
    '1.2.3.4.5',
    '1.2.3.4.',
    '123',
    '127.1',
    '0x7f.0.0.1',
    '0x7f000001',
    'example.123',
    'example.0x',
    'example.0x1f',
    '1.2.3.-4',
    '1.2.3.+4',
    // reverse names
    'in-addr.arpa',
    '3.2.1.in-addr.arpa',
    '5.4.3.2.1.in-addr.arpa',
    '1.2.3.256.in-addr.arpa',
    '01.2.3.4.in-addr.arpa',
    'a.2.3.4.in-addr.arpa',
    '.1.2.3.4.in-addr.arpa',
    'ip6.arpa',
    V6_DOC_SNI.slice(2),
    `0.${V6_DOC_SNI}`,
    V6_DOC_SNI.replace('8.b.d', '8.g.d'),
    V6_DOC_SNI.replace('8.b.d', '8.bb.d'),
    // IPv6
    'fe80::1%eth0',
    '[fe80::1%25eth0]',
    '[fe80::1%eth0]',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8',
    '1::2::3',
    ':::',
    ':1::',
    '::1:',
    '1:2:3:4:5:6:7:8:',
    '12345::',
    'g::1',
    '[::1',
    '::1]',
    '[[::1]]',
    '[]',
    '[example.org]',
    '[192.0.2.1]',
    '1:2:3:4:5:6:7:1.2.3.4',
    '::1.2.3.04',
    '::1.2.3',
    '::1.2.3.4:5',
    '1.2.3.4::',
    '::ffff:256.0.0.1',
    ' ::1',
  ];
  for (const input of bad) {
    t.equal(codeOf(input), 'ERR_BAD_IDENTIFIER', JSON.stringify(input));
  }
});

t.test('messages quote the input and say why', async (t) => {
  t.match(messageOf('exa mple.org'), /^"exa mple\.org" is not a DNS name, IP address or reverse-DNS name: /);
  t.match(messageOf('bücher.example'), /punycode/);
  t.match(messageOf('3.2.1.in-addr.arpa'), /exactly four/);
  t.match(messageOf('01.2.3.4'), /leading zeros/);
  t.match(messageOf('fe80::1%eth0'), /zone/);
  t.match(messageOf(''), /^"" is not/);
  const long = messageOf('a'.repeat(300));
  t.ok(long.startsWith(JSON.stringify(`${'a'.repeat(80)}…`)), 'long input cut to 80 characters');
  t.ok(long.length < 250);
  t.match(messageOf('a\nb'), /^"a\\nb"/, 'control characters escaped by JSON quoting');
  const error = (() => {
    try {
      parseIdentifier('a_b');
    } catch (e) {
      return e as AlpnResponderError;
    }
    return undefined;
  })();
  t.ok(error instanceof AlpnResponderError);
  t.match(error?.remedy, /punycode/);
});

t.test('property: any string parses or fails with our error', async (t) => {
  const identifierish = fc.string({
    unit: fc.constantFrom(...'abcdefx0123456789.:-[]*%_ '.split(''), 'é', '\u0000'),
    maxLength: 80,
  });
  for (const arbitrary of [fc.string({ unit: 'binary', maxLength: 300 }), identifierish]) {
    fc.assert(
      fc.property(arbitrary, (input) => {
        try {
          const id = parseIdentifier(input);
          // Whatever is accepted is canonical and round-trips through its own forms.
          const again = parseIdentifier(formatIdentifier(id));
          return JSON.stringify(view(again)) === JSON.stringify(view(id)) && JSON.stringify(view(parseIdentifier(id.sni))) === JSON.stringify(view(id));
        } catch (error) {
          return (
            error instanceof AlpnResponderError &&
            (error.code === 'ERR_BAD_IDENTIFIER' || error.code === 'ERR_WILDCARD_IDENTIFIER')
          );
        }
      }),
      { numRuns: 3000 },
    );
  }
  t.pass('3000 runs each');
});

t.test('property: IPs round-trip through text and reverse name', async (t) => {
  for (const length of [4, 16]) {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: length, maxLength: length }), (bytes) => {
        const text = formatIpAddress(bytes);
        const fromText = parseIdentifier(text);
        const fromReverse = parseIdentifier(reverseName(bytes));
        const fromBracket = length === 16 ? parseIdentifier(`[${text.toUpperCase()}]`) : fromText;
        return [fromText, fromReverse, fromBracket].every(
          (id) => id.kind === 'ip' && hex(id.bytes) === hex(bytes) && id.address === text && id.sni === reverseName(bytes),
        );
      }),
      { numRuns: 2000 },
    );
  }
  t.pass('2000 runs each');
});

t.test('property: IPv6 text agrees with independent implementations', async (t) => {
  // Node's URL parser serialises IPv6 hosts per RFC 5952 too (except IPv4-mapped ones, which it writes in hex).
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => {
        // Bias towards zero runs, where compression choices matter.
        for (let i = 0; i < 16; i += 2) if (b[i]! < 128) (b[i] = 0), (b[i + 1] = 0);
        return b;
      }),
      (bytes) => {
        const text = formatIpAddress(bytes);
        if (text.includes('.')) return true;
        return new URL(`http://[${text}]/`).hostname === `[${text}]`;
      },
    ),
    { numRuns: 3000 },
  );
  // Our strict parser accepts exactly what node:net accepts over this alphabet (no zones here).
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFg:.'.split('')), maxLength: 45 }), (s) => {
      return (parseIPv6(s) !== undefined) === net.isIPv6(s);
    }),
    { numRuns: 20000 },
  );
  const piece = fc.oneof(
    fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'.split('')), minLength: 0, maxLength: 5 }),
    fc.constantFrom(':', '::', '.'),
    fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((q) => q.join('.')),
    fc.constantFrom('01', '00', '0'),
  );
  const near = fc.array(piece, { maxLength: 12 }).map((parts) => parts.join(':').replace(/:{3,}/g, '::'));
  let accepted = 0;
  fc.assert(
    fc.property(near, (s) => {
      const ours = parseIPv6(s) !== undefined;
      if (ours) accepted++;
      return ours === net.isIPv6(s);
    }),
    { numRuns: 20000 },
  );
  t.ok(accepted > 500, `structured generator produced ${accepted} valid addresses`);
  for (const s of ['::', '::1', '1::', '1:2:3:4:5:6:7:8', '::ffff:1.2.3.4', '1:2:3:4:5:6:1.2.3.4', 'a:b::c:d']) {
    t.ok(net.isIPv6(s) && parseIPv6(s) !== undefined, s);
  }
});
