/**
 * CA problem text → hint. The texts are Let's Encrypt's (Boulder) as its VA words them; the dehydrated fixture is
 * dehydrated's own JSON.sh rendering of a challenge object, as it hands it to `invalid_challenge`.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { caHints, explainCaResponse } from '../../src/diagnostics/ca-hint.js';
import { CA_PROBLEMS } from '../../src/challenge/verify.js';

const FALLBACK = /for a full check/;

const CASES: readonly { text: string; hint: RegExp }[] = [
  { text: '192.0.2.1: Connection refused', hint: /Nothing accepted the connection/ },
  { text: '192.0.2.1: Timeout during connect (likely firewall problem)', hint: /firewall drops port 443/ },
  { text: '192.0.2.1: Timeout after connect (your server may be slow or overloaded)', hint: /no TLS handshake in time.*--accept-proxy-protocol/ },
  { text: '192.0.2.1: Connection reset by peer', hint: /cut before the TLS handshake/ },
  { text: '192.0.2.1: Network unreachable', hint: /no route/ },
  { text: '192.0.2.1: Server only speaks HTTP, not TLS', hint: /plain HTTP/ },
  { text: 'No certs presented for tls-alpn-01 challenge', hint: /not alpn-responder answered/ },
  { text: 'Cannot negotiate ALPN protocol "acme-tls/1" for tls-alpn-01 challenge', hint: /does not speak acme-tls\/1/ },
  { text: '192.0.2.1: remote error: tls: no application protocol', hint: /does not speak acme-tls\/1/ },
  { text: '192.0.2.1: remote error: tls: unrecognized name', hint: /no challenge for this name.*alpn-responder list/ },
  { text: '192.0.2.1: remote error: tls: handshake failure', hint: /TLS handshake with the CA failed/ },
  { text: '192.0.2.1: remote error: tls: internal error', hint: /--handshake-rate.*limit=handshake-rate/ },
  { text: '192.0.2.1: Error getting validation data', hint: /TLS handshake with the CA failed/ },
  { text: 'DNS problem: NXDOMAIN looking up A for example.org - check that a DNS record exists for this domain', hint: /does not resolve to this host/ },
  { text: 'DNS problem: query timed out looking up AAAA for example.org', hint: /does not resolve to this host/, },
  { text: 'no valid A records found for example.org', hint: /does not resolve/ },
  {
    text: 'Unable to contact "example.org" at "2001:db8::1", no IPv4 addresses to try as fallback',
    hint: /only IPv6 addresses/,
  },
  {
    text: `Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from 192.0.2.1:443. ${CA_PROBLEMS.notSelfSigned}`,
    hint: /ordinary certificate/,
  },
  { text: CA_PROBLEMS.missingAcmeIdentifier, hint: /ordinary certificate/ },
  { text: CA_PROBLEMS.notCritical, hint: /ordinary certificate/ },
  { text: CA_PROBLEMS.malformedValue, hint: /ordinary certificate/ },
  { text: CA_PROBLEMS.unexpectedExtensions('Required extension OID 1.3.6.1.5.5.7.1.31 is not present'), hint: /ordinary certificate/ },
  { text: CA_PROBLEMS.unexpectedIdentifiers('other.example', 'identifier does not match expected identifier'), hint: /names another identifier/ },
  { text: CA_PROBLEMS.wrongValue('ab'.repeat(32), 'cd'.repeat(32)), hint: /another digest.*one dehydrated at a time/ },
];

t.test('every CA text the VA produces maps to its cause, not the fallback', async (t) => {
  for (const { text, hint } of CASES) {
    const [first] = caHints(text);
    t.match(first, hint, text);
  }
  t.match(caHints('something no CA ever said')[0], FALLBACK, 'unknown text: run doctor');
});

t.test('the address family and multi-perspective validation add their own hints', async (t) => {
  t.match(caHints('2001:db8::1: Connection refused'), [/Nothing accepted/, /connected over IPv6/]);
  t.match(caHints('Incorrect validation certificate for tls-alpn-01 challenge. Requested a.example from [2001:db8::1]:443. Received certificate which is not self-signed.'), [/ordinary certificate/, /IPv6/]);
  t.equal(caHints('192.0.2.1: Connection refused').length, 1, 'IPv4: no IPv6 hint');
  t.equal(caHints('at 10:00:00: Connection refused').length, 1, 'a time is not an IPv6 address');
  t.match(caHints('During secondary validation: 192.0.2.1: Connection refused'), [/Nothing accepted/, /several places/]);
});

t.test('dehydrated\'s invalid_challenge RESPONSE (JSON.sh lines)', async (t) => {
  const response = readFileSync(new URL('fixtures/invalid-challenge.jsonsh', import.meta.url), 'utf8');
  const explained = explainCaResponse(response);
  t.equal(explained.type, 'urn:ietf:params:acme:error:unauthorized');
  t.equal(
    explained.detail,
    'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from [2001:db8::1]:443. Received certificate which is not self-signed.',
  );
  t.match(explained.hints, [/ordinary certificate/, /connected over IPv6/]);
  const escaped = '["error","detail"]\t"Cannot negotiate ALPN protocol \\"acme-tls/1\\" for tls-alpn-01 challenge"';
  t.equal(explainCaResponse(escaped).detail, 'Cannot negotiate ALPN protocol "acme-tls/1" for tls-alpn-01 challenge', 'JSON escapes decoded');
});

t.test('JSON challenge, authorization and problem documents, and plain text', async (t) => {
  const problem = { type: 'urn:ietf:params:acme:error:connection', detail: '192.0.2.1: Connection refused', status: 400 };
  for (const [what, document] of [
    ['challenge', { type: 'tls-alpn-01', status: 'invalid', error: problem }],
    ['authorization', { status: 'invalid', challenges: [{ type: 'http-01', status: 'pending' }, { type: 'tls-alpn-01', status: 'invalid', error: problem }] }],
    ['problem document', problem],
  ] as const) {
    const explained = explainCaResponse(JSON.stringify(document));
    t.same({ type: explained.type, detail: explained.detail }, { type: problem.type, detail: problem.detail }, what);
  }
  t.same(explainCaResponse('  192.0.2.1: Connection refused\n'), { detail: '192.0.2.1: Connection refused', hints: caHints('192.0.2.1: Connection refused') });
  t.equal(explainCaResponse('{"status":"invalid"}').detail, '{"status":"invalid"}', 'JSON without a problem: shown as it is');
  t.equal(explainCaResponse('{not json').detail, '{not json');
  t.ok(explainCaResponse('x'.repeat(1_000_000)).detail.length <= 64 * 1024, 'input is bounded');
});
