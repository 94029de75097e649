/**
 * Every problem text a CA gives for a failed tls-alpn-01 validation that alpn-responder knows, with its likely cause
 * and the fix, in words an admin acts on. The texts are Let's Encrypt's Boulder (va/tlsalpn.go, detailedError in
 * va/va.go, bdns, and the multi-perspective prefix of va/vampic.go) and Pebble's (va/va.go); each entry carries one
 * real example, which the tests run through `--explain`. Pure data.
 */

/** One CA text and what it means on a host running alpn-responder. */
export interface CaTextEntry {
  /** Stable name, shown by `--explain --json`. */
  readonly id: string;
  /** Which CA words it so. */
  readonly ca: 'Boulder' | 'Pebble' | 'Boulder, Pebble';
  /** A real text as the CA gives it (the address and names are examples). */
  readonly example: string;
  readonly test: RegExp;
  readonly cause: string;
  readonly fix: string;
}

/** Where the owner of the port is found; the doctor's own output replaces it (it must not send you to itself). */
export const DOCTOR_REFERENCE = '`alpn-responder doctor` names process, pid and address';

const ANOTHER_SERVER =
  `Find who owns port 443 on this host for both address families (${DOCTOR_REFERENCE}) ` +
  'and give the port to alpn-responder, with the web server behind it (--backend, docs/layouts.md).';

/** Most specific first: the first entry whose test matches explains the text. */
export const CA_TEXTS: readonly CaTextEntry[] = [
  {
    id: 'wrong-digest',
    ca: 'Boulder',
    example:
      'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from 192.0.2.1:443. Received certificate with acmeValidationV1 extension value ' +
      `${'ab'.repeat(32)} but expected ${'cd'.repeat(32)}.`,
    test: /Received certificate with acmeValidationV1 extension value [0-9a-f]* but expected [0-9a-f]*\./,
    cause:
      'A challenge certificate answered, but for another key authorization: the name was deployed again in between (two dehydrated runs ' +
      'at once, or another ACME client using the same daemon), an old deploy of another node is still served, or the DIGEST was changed on the way.',
    fix: 'Run one dehydrated at a time and retry; `alpn-responder list` shows the digest deployed for each name.',
  },
  {
    id: 'wrong-digest',
    ca: 'Pebble',
    example: 'Incorrect validation certificate for tls-alpn-01 challenge. Invalid acmeValidation extension value.',
    test: /Invalid acmeValidation extension value\./,
    cause: 'A challenge certificate answered, but for another key authorization: the name was deployed again in between, or by another client.',
    fix: 'Run one dehydrated at a time and retry; `alpn-responder list` shows the digest deployed for each name.',
  },
  {
    id: 'not-self-signed',
    ca: 'Boulder',
    example: 'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from [2001:db8::1]:443. Received certificate which is not self-signed.',
    test: /Received certificate which is not self-signed\./,
    cause:
      'Something other than alpn-responder answered the CA with an ordinary certificate (a CA-issued one): a web server or proxy on port ' +
      '443, on the other address family, or on another host the name resolves to.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'no-acme-extension',
    ca: 'Boulder',
    example:
      'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from 192.0.2.1:443. Received certificate with unexpected extensions: ' +
      '"Required extension OID 1.3.6.1.5.5.7.1.31 is not present"',
    test: /Required extension OID 1\.3\.6\.1\.5\.5\.7\.1\.31 is not present/,
    cause:
      'A self-signed certificate without the acmeIdentifier extension answered: an ordinary certificate (a default or "snakeoil" one), not a ' +
      'challenge certificate — another TLS server, or a proxy routing acme-tls/1 to the web server instead of alpn-responder.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'no-san-extension',
    ca: 'Boulder',
    example:
      'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from 192.0.2.1:443. Received certificate with unexpected extensions: ' +
      '"Required extension OID 2.5.29.17 is not present"',
    test: /Required extension OID 2\.5\.29\.17 is not present/,
    cause: 'The certificate that answered has no subjectAltName: not a challenge certificate of alpn-responder (which always has one), so another server answered.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'duplicate-extension',
    ca: 'Boulder',
    example:
      'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from 192.0.2.1:443. Received certificate with unexpected extensions: ' +
      '"Extension OID 1.3.6.1.5.5.7.1.31 seen twice"',
    test: /Extension OID [\d.]+ seen twice/,
    cause: 'The certificate that answered carries an extension twice: a broken challenge responder, not alpn-responder.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'no-acme-extension',
    ca: 'Boulder',
    example: 'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from 192.0.2.1:443. Received certificate with no acmeValidationV1 extension.',
    test: /Received certificate with no acmeValidationV1 extension\./,
    cause: 'The certificate that answered has no acmeIdentifier extension: an ordinary certificate, so another server answered.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'no-acme-extension',
    ca: 'Pebble',
    example: 'Incorrect validation certificate for tls-alpn-01 challenge. Missing acmeValidationV1 extension.',
    test: /Missing acmeValidationV1 extension\./,
    cause: 'The certificate that answered has no critical acmeIdentifier extension: an ordinary certificate, so another server answered.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'not-critical',
    ca: 'Boulder',
    example:
      'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from 192.0.2.1:443. Received certificate with acmeValidationV1 extension that is not Critical.',
    test: /acmeValidationV1 extension that is not Critical\./,
    cause: 'A challenge certificate whose acmeIdentifier is not marked critical (RFC 8737 §3 requires it): another TLS-ALPN responder made it, not alpn-responder.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'malformed-value',
    ca: 'Boulder',
    example:
      'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from 192.0.2.1:443. Received certificate with malformed acmeValidationV1 extension value.',
    test: /malformed acmeValidationV1 extension value\./,
    cause: 'A challenge certificate whose acmeIdentifier is not a 32-byte OCTET STRING: another TLS-ALPN responder made it, not alpn-responder.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'malformed-value',
    ca: 'Pebble',
    example: 'Incorrect validation certificate for tls-alpn-01 challenge. Malformed acmeValidation extension value.',
    test: /Malformed acmeValidation extension value\./,
    cause: 'A challenge certificate whose acmeIdentifier is not an OCTET STRING: another TLS-ALPN responder made it, not alpn-responder.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'other-identifier',
    ca: 'Boulder',
    example:
      'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from 192.0.2.1:443. Received certificate with unexpected identifiers ' +
      '("www.example.org"): "identifier does not match expected identifier"',
    test: /unexpected identifiers \(.*\): "identifier does not match expected identifier"/,
    cause:
      'A challenge certificate for another name answered: a responder that ignores SNI (alpn-responder picks the certificate by SNI), or a ' +
      'proxy routing by SNI that sent this name to another responder.',
    fix: 'Make port 443 reach alpn-responder for this name, directly or through a proxy that passes acme-tls/1 on (docs/layouts.md).',
  },
  {
    id: 'wrong-number-of-identifiers',
    ca: 'Boulder',
    example:
      'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from 192.0.2.1:443. Received certificate with unexpected identifiers ' +
      '("example.org, www.example.org"): "wrong number of identifiers"',
    test: /"wrong number of identifiers"/,
    cause: 'The certificate that answered names more or fewer than exactly this one identifier: an ordinary multi-name certificate, so another server answered.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'san-bytes',
    ca: 'Boulder',
    example:
      'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from 192.0.2.1:443. Received certificate with unexpected identifiers ' +
      '("example.org"): "SAN extension does not match expected bytes"',
    test: /"SAN extension does not match expected bytes"/,
    cause: 'The subjectAltName names the identifier but is encoded differently from what RFC 8737 asks (e.g. in other letter case): another responder made it.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'other-identifier',
    ca: 'Pebble',
    example:
      'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from example.org:443. Received 2 certificate(s), first certificate had names "[www.example.org]"',
    test: /Received \d+ certificate\(s\), first certificate had names/,
    cause: 'The certificate that answered does not name exactly this identifier: another server, or a responder without a challenge for it, answered.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'no-alpn',
    ca: 'Boulder, Pebble',
    example: 'Cannot negotiate ALPN protocol "acme-tls/1" for tls-alpn-01 challenge',
    test: /Cannot negotiate ALPN protocol "acme-tls\/1"/,
    cause:
      'The server that answered completed TLS without acme-tls/1: a web server owns port 443, or a proxy in front terminates TLS instead of ' +
      'passing acme-tls/1 connections on to alpn-responder.',
    fix: 'Put alpn-responder on port 443 (web server behind it with --backend), or route acme-tls/1 to it in the proxy (docs/layouts.md).',
  },
  {
    id: 'no-certificate',
    ca: 'Boulder, Pebble',
    example: 'No certs presented for tls-alpn-01 challenge',
    test: /No certs presented for tls-alpn-01 challenge/,
    cause: 'A TLS server answered without any certificate: not alpn-responder, which always presents one.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'http-only',
    ca: 'Boulder',
    example: '192.0.2.1: Server only speaks HTTP, not TLS',
    test: /Server only speaks HTTP, not TLS/,
    cause: 'A plain-HTTP server answered on port 443 (a web server with `listen 443` but no TLS, or an HTTP port forwarded to 443).',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'unrecognized-name',
    ca: 'Boulder',
    example: '192.0.2.1: remote error: tls: unrecognized name',
    test: /remote error: tls: unrecognized name/,
    cause:
      'The server that answered has no challenge for this name — alpn-responder answers so when nothing is deployed: the hook did not run or ' +
      'failed, the challenge expired (TTL) or was cleaned, or it was deployed to another daemon than the one port 443 reaches.',
    fix: '`alpn-responder list` on the host the address belongs to; check ALPN_RESPONDER_CONTROL in the dehydrated config and the hook\'s log.',
  },
  {
    id: 'no-application-protocol',
    ca: 'Boulder',
    example: '192.0.2.1: remote error: tls: no application protocol',
    test: /remote error: tls: no application protocol/,
    cause: 'The server that answered refused acme-tls/1: a web server (nginx, Apache, a CDN) owns port 443, or a proxy in front does not pass acme-tls/1 on.',
    fix: 'Put alpn-responder on port 443 (web server behind it with --backend), or route acme-tls/1 to it in the proxy (docs/layouts.md).',
  },
  {
    id: 'protocol-version',
    ca: 'Boulder',
    example: '192.0.2.1: remote error: tls: protocol version not supported',
    test: /remote error: tls: protocol version not supported/,
    cause: 'The server that answered offers only TLS versions the CA does not (it needs TLS 1.2 or 1.3): not alpn-responder.',
    fix: ANOTHER_SERVER,
  },
  {
    // The alert the daemon refuses a handshake with over --handshake-rate (src/net/connection-handler.ts).
    id: 'handshake-rate',
    ca: 'Boulder',
    example: '192.0.2.1: remote error: tls: internal error',
    test: /remote error: tls: internal error/,
    cause:
      'alpn-responder may have refused the handshake because the address it came from had used up its --handshake-burst (refilled at ' +
      '--handshake-rate a second): its log then shows event=connection-limit limit=handshake-rate with the CA\'s address.',
    fix: 'Raise --handshake-rate and --handshake-burst if a CA (or your own checks from one address) validates many names at once (docs/security.md).',
  },
  {
    id: 'tls-alert',
    ca: 'Boulder',
    example: '192.0.2.1: remote error: tls: handshake failure',
    test: /remote error: tls: /,
    cause: 'The server that answered aborted the TLS handshake with an alert: another TLS server, or one with no certificate for this name.',
    fix: ANOTHER_SERVER,
  },
  {
    id: 'connect-timeout',
    ca: 'Boulder',
    example: '192.0.2.1: Timeout during connect (likely firewall problem)',
    test: /Timeout during connect \(likely firewall problem\)/,
    cause: 'The CA\'s connection to port 443 got no answer at all: a firewall (the host\'s, or the provider\'s security group) drops it, or the address is not this host\'s.',
    fix: 'Open TCP 443 from the internet for IPv4 and IPv6, and check the name\'s A/AAAA records point here.',
  },
  {
    id: 'timeout-after-connect',
    ca: 'Boulder',
    example: '192.0.2.1: Timeout after connect (your server may be slow or overloaded)',
    test: /Timeout (?:after connect|during read|during write) \(your server may be slow or overloaded\)/,
    cause:
      'The CA connected but got no TLS handshake in time: something that is not a TLS server owns port 443, a daemon started with ' +
      '--accept-proxy-protocol waits for a PROXY header the CA never sends, or the host or its backend is overloaded.',
    fix: 'Reach alpn-responder directly on 443, or give it the PROXY header from the front proxy; check the daemon log for event=connection.',
  },
  {
    id: 'connection-refused',
    ca: 'Boulder',
    example: '192.0.2.1: Connection refused',
    test: /Connection refused/,
    cause: 'Nothing accepted the connection on port 443 at that address: the daemon is not running or does not listen on that address or family.',
    fix: 'Start the daemon listening on [::]:443 (IPv4 and IPv6), and check the address is this host\'s.',
  },
  {
    id: 'connection-reset',
    ca: 'Boulder',
    example: '192.0.2.1: Connection reset by peer',
    test: /Connection reset by peer/,
    cause:
      'The connection was cut before the TLS handshake finished: a firewall or IPS, a proxy that does not pass TLS on unchanged, or a daemon ' +
      'started with --accept-proxy-protocol reached without a PROXY header.',
    fix: 'Let TCP 443 through unchanged to alpn-responder; behind a proxy, pass the connection on at TCP level (docs/layouts.md).',
  },
  {
    id: 'network-unreachable',
    ca: 'Boulder',
    example: '2001:db8::1: Network unreachable',
    test: /Network unreachable/,
    cause: 'The CA has no route to the name\'s address: usually an AAAA record for a host whose IPv6 is not routed.',
    fix: 'Fix or remove the AAAA (or A) record, or the host\'s IPv6 routing.',
  },
  {
    id: 'no-ipv4-fallback',
    ca: 'Boulder',
    example: 'Unable to contact "example.org" at "2001:db8::1", no IPv4 addresses to try as fallback',
    test: /no IPv4 addresses to try as fallback/,
    cause: 'The name has only IPv6 addresses and the CA could not connect or finish a TLS handshake over IPv6.',
    fix: 'Make the daemon listen on [::]:443 and open TCP 443 for IPv6, or give the name an A record.',
  },
  {
    id: 'no-addresses',
    ca: 'Boulder',
    example: 'No IP addresses found for "example.org"',
    test: /No IP addresses found for/i,
    cause: 'The name has no usable address: none at all, or only private or reserved ones the CA will not connect to.',
    fix: 'Give the name a public A and/or AAAA record pointing at this host.',
  },
  {
    id: 'dns-nxdomain',
    ca: 'Boulder',
    example: 'DNS problem: NXDOMAIN looking up A for example.org - check that a DNS record exists for this domain',
    test: /DNS problem: NXDOMAIN/,
    cause: 'The name does not exist in public DNS (a typo, an unregistered domain, a record only in a local /etc/hosts or split-horizon DNS).',
    fix: 'Create the A/AAAA record in the public zone and wait until it is served.',
  },
  {
    id: 'dns-servfail',
    ca: 'Boulder',
    example: "DNS problem: SERVFAIL looking up A for example.org - the domain's nameservers may be malfunctioning",
    test: /DNS problem: SERVFAIL/,
    cause: 'The domain\'s nameservers failed the CA\'s lookup (broken DNSSEC, a lame delegation, an overloaded nameserver).',
    fix: 'Check the zone with an external DNS checker (DNSSEC, delegation), then retry.',
  },
  {
    id: 'dns-timeout',
    ca: 'Boulder',
    example: 'DNS problem: query timed out looking up AAAA for example.org',
    test: /DNS problem: query timed out/,
    cause: 'The domain\'s nameservers did not answer the CA in time (unreachable from the CA\'s networks, rate-limiting, packet loss).',
    fix: 'Make the authoritative nameservers answer from anywhere, then retry.',
  },
  {
    id: 'dns-no-records',
    ca: 'Boulder',
    example: 'no valid A records found for example.org; no valid AAAA records found for example.org',
    test: /no valid (?:A|AAAA) records found for/,
    cause: 'The name exists but has neither an A nor an AAAA record (perhaps only a CNAME to nowhere, or another record type).',
    fix: 'Create an A and/or AAAA record pointing at this host.',
  },
  {
    id: 'dns-problem',
    ca: 'Boulder',
    example: 'DNS problem: networking error looking up A for example.org',
    test: /DNS problem: /,
    cause: 'The CA\'s lookup of the name failed.',
    fix: 'Check the name\'s A/AAAA records and its nameservers from outside your network, then retry.',
  },
  {
    id: 'dns-problem',
    ca: 'Pebble',
    example: 'Could not resolve URL "example.org"',
    test: /Could not resolve URL|Error occurred while resolving URL/,
    cause: 'Pebble\'s resolver (its -dnsserver, often pebble-challtestsrv) has no address for the name.',
    fix: 'Add the name to the test DNS server (pebble-challtestsrv\'s /add-a, /add-aaaa) or point pebble at a resolver that knows it.',
  },
  {
    id: 'connect-failed',
    ca: 'Pebble',
    example: 'Failed to connect to 127.0.0.1:5001 for the tls-alpn-01 challenge',
    test: /Failed to connect to \S+ for the tls-alpn-01 challenge/,
    cause: 'Pebble could not connect or finish the TLS handshake (it does not say which): nothing listens on its tlsPort, or another server refused the handshake.',
    fix: 'Make the daemon listen on the address and pebble\'s tlsPort (pebble.json), then `alpn-responder validate NAME --host ADDRESS --port PORT` says what fails.',
  },
  {
    id: 'validation-data',
    ca: 'Boulder',
    example: '192.0.2.1: Error getting validation data',
    test: /Error getting validation data/,
    cause:
      'The connection or TLS handshake failed in a way the CA names no cause for: the server closed it without a word (alpn-responder with ' +
      '--accept-proxy-protocol reached without a PROXY header), sent something that is not TLS, or its certificate could not be parsed.',
    fix: '`alpn-responder validate NAME` from outside shows what answers; the daemon log shows whether the connection arrived (event=connection).',
  },
  {
    id: 'rir-corroboration',
    ca: 'Boulder',
    example: 'During secondary validation: validation could not be corroborated by enough distinct RIRs',
    test: /validation could not be corroborated by enough distinct RIRs/,
    cause:
      'Enough of the CA\'s remote perspectives passed, but all in too few regions (RIRs): the others could not reach the host — a geo-block or ' +
      'a firewall that admits only some source countries or networks.',
    fix: 'Open TCP 443 to the whole internet while validating; do not restrict it by country or network.',
  },
  {
    id: 'ca-internal',
    ca: 'Boulder',
    example: 'During secondary validation: Secondary validation RPC failed',
    test: /Secondary validation RPC (?:failed|canceled|returned malformed result)|Remote PerformValidation RPC|Too few remote/,
    cause: 'A problem inside the CA between its validation servers, not on this host.',
    fix: 'Retry later; see the CA\'s status page.',
  },
  {
    id: 'caa',
    ca: 'Boulder',
    example: 'CAA record for example.org prevents issuance',
    test: /CAA record for \S+ prevents issuance|While processing CAA for/,
    cause: 'A CAA record of the domain does not allow this CA (or this account, or the tls-alpn-01 method).',
    fix: 'Add the CA to the CAA records (e.g. `0 issue "letsencrypt.org"`), or remove the restriction on validationmethods.',
  },
];

/** The prefix Boulder puts before a remote perspective's problem when too many remote perspectives failed. */
export const SECONDARY_PREFIX = 'During secondary validation: ';
