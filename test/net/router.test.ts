import t from 'tap';
import { route } from '../../src/net/router.js';
import { ALERT } from '../../src/tls/alert.js';
import type { ClientHello } from '../../src/tls/client-hello.js';

const hello = (serverName: string | undefined, alpn: string[] | undefined): ClientHello => ({
  serverName,
  alpn: alpn ?? [],
  hasAlpnExtension: alpn !== undefined,
  legacyVersion: 0x0303,
  supportedVersions: [0x0304],
});
const deployed = (sni: string) => (sni === 'a.test' ? 'challenge-a' : undefined);
const noBackend = () => undefined;
const backend = (name: string | undefined) => `backend-for-${name ?? 'none'}`;

t.test('acme-tls/1 for a deployed name gets the challenge, whatever the backends', async (t) => {
  t.same(route(hello('a.test', ['acme-tls/1']), { challenge: deployed, backend }), { kind: 'challenge', target: 'challenge-a' });
  t.same(route(hello('a.test', ['h2', 'acme-tls/1']), { challenge: deployed, backend: noBackend }), { kind: 'challenge', target: 'challenge-a' });
});

t.test('acme-tls/1 is never passed to a backend', async (t) => {
  t.same(route(hello('b.test', ['acme-tls/1']), { challenge: deployed, backend }), { kind: 'reject', alert: ALERT.unrecognized_name, reason: 'unknown-name' });
  t.same(route(hello(undefined, ['acme-tls/1']), { challenge: deployed, backend }), { kind: 'reject', alert: ALERT.unrecognized_name, reason: 'no-sni' });
  t.same(route(hello('a.test.', ['acme-tls/1']), { challenge: deployed, backend }).kind, 'reject', 'a trailing dot matches nothing');
});

t.test('everything else goes to the backend for its SNI, or is refused', async (t) => {
  t.same(route(hello('a.test', ['h2']), { challenge: deployed, backend }), { kind: 'passthrough', backend: 'backend-for-a.test' });
  t.same(route(hello(undefined, undefined), { challenge: deployed, backend }), { kind: 'passthrough', backend: 'backend-for-none' });
  t.same(route(hello('a.test', ['h2']), { challenge: deployed, backend: noBackend }), { kind: 'reject', alert: ALERT.no_application_protocol, reason: 'no-acme-alpn' });
  t.same(route(hello('a.test', undefined), { challenge: deployed, backend: noBackend }), { kind: 'reject', alert: ALERT.handshake_failure, reason: 'no-acme-alpn' });
});
