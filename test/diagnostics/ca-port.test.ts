/**
 * The CA connects to port 443 only, from outside: judged from fixture facts, every case in-process (nothing binds
 * port 443 here).
 */
import t from 'tap';
import { CA_PORT, judgeCaPort, type CaPortFacts } from '../../src/diagnostics/ca-port.js';
import type { ListeningSocket, SocketVerdict } from '../../src/diagnostics/port-owner.js';

const ROOT_SS = { tool: 'ss', root: true } as const;
const daemonOn = (...listeners: [string, number][]) => ({ listeners: listeners.map(([host, port]) => ({ host, port })) });
const socket = (address: string, port: number, pid: number, process: string): ListeningSocket => ({
  address,
  port,
  family: address.includes(':') ? 'IPv6' : 'IPv4',
  pid,
  process,
});

function judge(facts: Partial<CaPortFacts>) {
  return judgeCaPort({ caPort: CA_PORT, sockets: [], visibility: ROOT_SS, daemon: daemonOn(['::', 443]), ...facts });
}

t.test('the daemon on loopback only, port 443: ✗ with the CA\'s "Connection refused" and the fix', async (t) => {
  const checks = judge({ daemon: daemonOn(['127.0.0.1', 443]), sockets: [socket('127.0.0.1', 443, 10, 'node')] });
  t.match(checks, [
    {
      id: 'ca-port',
      status: 'fail',
      title: 'port 443: the CA connects to port 443 only, and nothing listens there that it can reach (the daemon listens on 127.0.0.1:443): the CA would get "Connection refused"',
      remedy: /--listen '\[::\]:443'.*loopback address suits only a daemon behind a front proxy/,
    },
  ]);
  t.equal(judge({ daemon: daemonOn(['::1', 443]) })[0]?.status, 'fail', '::1 is loopback too');
  t.equal(judge({ daemon: daemonOn(['localhost', 443]) })[0]?.status, 'fail', 'so is localhost');
});

t.test('the daemon on another port, nothing on 443: ✗ that says the CA uses 443 only', async (t) => {
  const checks = judge({ daemon: daemonOn(['::', 18443]), sockets: [socket('::', 18443, 10, 'node')] });
  t.match(checks, [{ status: 'fail', title: /the CA connects to port 443 only, and nothing listens there that it can reach \(the daemon listens on \[::\]:18443\)/, remedy: /--listen '\[::\]:443', or put a front proxy on port 443/ }]);
  const loopbackFront = judge({ daemon: daemonOn(['127.0.0.1', 8443]), sockets: [socket('127.0.0.1', 443, 20, 'nginx')] });
  t.equal(loopbackFront[0]?.status, 'fail', 'a front on 127.0.0.1:443 is out of the CA\'s reach too');
});

t.test('the daemon on a reachable address of port 443: nothing to add (judgePort speaks)', async (t) => {
  t.same(judge({ daemon: daemonOn(['::', 443]) }), []);
  t.same(judge({ daemon: daemonOn(['0.0.0.0', 443], ['127.0.0.1', 9000]) }), []);
  t.same(judge({ daemon: daemonOn(['203.0.113.5', 443]) }), []);
});

t.test('a front on 443 and the daemon elsewhere: decided by the self-test through the front', async (t) => {
  const front = socket('::', 443, 20, 'nginx');
  const base = { daemon: daemonOn(['127.0.0.1', 8443]), sockets: [front, socket('127.0.0.1', 8443, 10, 'node')] };
  const passed: SocketVerdict = { kind: 'passed', via: '[::1]:443' };
  t.same(judge({ ...base, selfTest: () => passed }), [], 'proven to reach the daemon: fine');
  const failed: SocketVerdict = { kind: 'failed', via: '[::1]:443', problem: 'Received certificate which is not self-signed' };
  t.match(judge({ ...base, selfTest: () => failed }), [
    { status: 'fail', title: 'port 443: the CA connects to port 443 only, and the daemon listens on 127.0.0.1:8443: no self-test through nginx (pid 20) on [::] reached the daemon', remedy: /forward acme-tls\/1 to the daemon at 127\.0\.0\.1:8443/ },
  ]);
  t.match(judge({ ...base, selfTest: () => ({ kind: 'untested', why: 'no IPv6 loopback' }) }), [{ status: 'fail' }], 'untested is not proven');
  t.match(judge(base), [{ status: 'warn', title: /nginx \(pid 20\) on \[::\] must pass acme-tls\/1 on to it \(not tested: --quick runs no self-test\)/ }], 'quick: a warning');
});

t.test('nothing to judge without the daemon\'s listeners or the socket table', async (t) => {
  t.same(judge({ daemon: undefined }), []);
  t.same(judge({ daemon: daemonOn(['127.0.0.1', 443]), visibility: { tool: 'none', root: true } }), []);
  t.same(judge({ daemon: daemonOn(['127.0.0.1', 443]), visibility: { tool: 'timeout', root: true } }), []);
});
