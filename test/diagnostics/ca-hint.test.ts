/**
 * CA problem text → cause and fix. Every entry of the table is run with its CA's real wording (Boulder's
 * va/tlsalpn.go, va/va.go, bdns and va/vampic.go; Pebble's va/va.go), alone and behind the multi-perspective prefix;
 * every text `validate` itself produces must be known; unknown texts say so. The dehydrated fixture is dehydrated's
 * own JSON.sh rendering of a challenge object, as it hands it to `invalid_challenge`.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { caHints, explainCaResponse, namedAddress } from '../../src/diagnostics/ca-hint.js';
import { CA_TEXTS, DOCTOR_REFERENCE } from '../../src/diagnostics/ca-texts-table.js';
import { CONNECTION_PROBLEMS, connectionProblemDetail, goAlertError, noFallbackProblem, resolutionProblem } from '../../src/diagnostics/ca-texts.js';
import { CA_PROBLEMS, caProblemDetail } from '../../src/diagnostics/verify.js';
import { parseIdentifier } from '../../src/challenge/identifier.js';

const SECONDARY = /^The CA validates from several places and its primary perspective passed.*GeoDNS.*anycast.*without the challenge \(run every node with the same --store/;

t.test('every table entry: its CA\'s real text is explained by that entry', async (t) => {
  const ids = new Set<string>();
  for (const entry of CA_TEXTS) {
    const explained = explainCaResponse(entry.example);
    t.equal(explained.known, entry.id, `${entry.ca}: ${entry.example}`);
    t.equal(explained.secondary, entry.example.startsWith('During secondary validation: '));
    t.ok(explained.hints.some((h) => h === `${entry.cause} ${entry.fix}`), `cause and fix of ${entry.id}`);
    t.notMatch(entry.fix, /usermod -aG root/);
    ids.add(entry.id);
  }
  t.ok(ids.size >= 30, `${ids.size} distinct causes`);
});

t.test('multi-perspective: "During secondary validation: " gets its own explanation first', async (t) => {
  for (const entry of CA_TEXTS) {
    const text = entry.example.startsWith('During secondary validation: ') ? entry.example : `During secondary validation: ${entry.example}`;
    const explained = explainCaResponse(text);
    t.equal(explained.secondary, true, text);
    t.equal(explained.known, entry.id);
    if (entry.id === 'ca-internal' || entry.id === 'rir-corroboration') {
      t.notMatch(explained.hints[0], SECONDARY, `${entry.id}: not about what answered`);
    } else {
      t.match(explained.hints[0], SECONDARY, entry.id);
      t.equal(explained.hints[1], `${entry.cause} ${entry.fix}`);
    }
  }
  const remote = explainCaResponse('During secondary validation: 192.0.2.7: remote error: tls: unrecognized name');
  t.match(remote.hints, [SECONDARY, /no challenge for this name/, /remote perspective connected to 192\.0\.2\.7/]);
  t.match(explainCaResponse('During secondary validation: validation could not be corroborated by enough distinct RIRs').hints[0], /geo-block/);
});

t.test('every text validate produces is in the table', async (t) => {
  const id = parseIdentifier('example.org');
  const texts = [
    ...Object.values(CONNECTION_PROBLEMS).map((p) => `192.0.2.1: ${p}`),
    connectionProblemDetail({ phase: 'handshake', reason: 'alert', alert: 112, message: '' }, '192.0.2.1'),
    connectionProblemDetail({ phase: 'handshake', reason: 'alert', alert: 120, message: '' }, '192.0.2.1'),
    connectionProblemDetail({ phase: 'handshake', reason: 'alert', alert: 40, message: '' }, '192.0.2.1'),
    `192.0.2.1: remote error: ${goAlertError(70)}`,
    noFallbackProblem('example.org', '2001:db8::1'),
    resolutionProblem('example.org', 'rcode:NXDOMAIN', 'rcode:NXDOMAIN'),
    resolutionProblem('example.org', 'rcode:SERVFAIL', 'empty'),
    resolutionProblem('example.org', 'timeout', 'timeout'),
    resolutionProblem('example.org', 'empty', 'empty'),
    resolutionProblem('example.org', 'network', 'network'),
    ...[
      CA_PROBLEMS.notSelfSigned,
      CA_PROBLEMS.notCritical,
      CA_PROBLEMS.malformedValue,
      CA_PROBLEMS.missingAcmeIdentifier,
      CA_PROBLEMS.unexpectedExtensions('Required extension OID 1.3.6.1.5.5.7.1.31 is not present'),
      CA_PROBLEMS.unexpectedExtensions('Required extension OID 2.5.29.17 is not present'),
      CA_PROBLEMS.unexpectedIdentifiers('other.example', 'identifier does not match expected identifier'),
      CA_PROBLEMS.unexpectedIdentifiers('a.example, b.example', 'wrong number of identifiers'),
      CA_PROBLEMS.unexpectedIdentifiers('example.org', 'SAN extension does not match expected bytes'),
      CA_PROBLEMS.wrongValue('ab'.repeat(32), 'cd'.repeat(32)),
    ].map((problem) => caProblemDetail({ ok: false, stage: 'certificate', problem }, id, '192.0.2.1')),
  ];
  for (const text of texts) t.ok(explainCaResponse(text).known, text);
});

t.test('unknown texts say honestly that they are not known', async (t) => {
  const explained = explainCaResponse('something no CA ever said');
  t.equal(explained.known, undefined);
  t.match(explained.hints, [/^alpn-responder does not know this CA text/]);
  t.equal(explained.hints.length, 1);
  t.notMatch(caHints('something no CA ever said', { inDoctor: true })[0], /alpn-responder doctor/, 'doctor\'s own output does not send you to doctor');
  t.notMatch(caHints(CA_TEXTS.find((e) => e.id === 'not-self-signed')!.example, { inDoctor: true }).join(' '), new RegExp(DOCTOR_REFERENCE.replace(/[`()]/g, '.')));
});

t.test('the address: family note for IPv6, none for IPv4 or a time of day', async (t) => {
  t.equal(namedAddress('2001:db8::1: Connection refused'), '2001:db8::1');
  t.equal(namedAddress('Incorrect validation certificate for tls-alpn-01 challenge. Requested a.example from [2001:DB8::1]:443. Received certificate which is not self-signed.'), '2001:db8::1');
  t.equal(namedAddress('Unable to contact "a.example" at "2001:db8::1", no IPv4 addresses to try as fallback'), '2001:db8::1');
  t.equal(namedAddress('at 10:00:00: Connection refused'), undefined);
  t.match(caHints('2001:db8::1: Connection refused'), [/Nothing accepted/, /connected over IPv6/]);
  t.equal(caHints('192.0.2.1: Connection refused').length, 1, 'IPv4: no IPv6 hint');
  t.equal(caHints('at 10:00:00: Connection refused').length, 1, 'a time is not an IPv6 address');
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
  t.match(explainCaResponse('  192.0.2.1: Connection refused\n'), { detail: '192.0.2.1: Connection refused', known: 'connection-refused', address: '192.0.2.1', hints: caHints('192.0.2.1: Connection refused') });
  t.equal(explainCaResponse('{"status":"invalid"}').detail, '{"status":"invalid"}', 'JSON without a problem: shown as it is');
  t.equal(explainCaResponse('{not json').detail, '{not json');
  t.ok(explainCaResponse('x'.repeat(1_000_000)).detail.length <= 64 * 1024, 'input is bounded');
});
