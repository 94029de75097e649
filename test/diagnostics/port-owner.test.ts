/**
 * Port-owner judgement from fixture socket lists, shaped exactly as systeminformation's networkConnections()
 * returns them from netstat (tcp6, `::`, pid/name) and from ss (`*` dual-stack, `[::]` IPv6-only).
 */
import t from 'tap';
import { row } from '../helpers/listen-rows.js';
import type { NetworkInterfaceInfo } from 'node:os';
import type { Check } from '../../src/diagnostics/checklist.js';
import {
  globalIPv6Addresses,
  judgePort,
  listeningSockets,
  type PortFacts,
  type RawConnection,
  type SocketVisibility,
} from '../../src/diagnostics/port-owner.js';


const ROOT_NETSTAT: SocketVisibility = { tool: 'netstat', root: true };
const daemonOn = (...listeners: [string, number][]) => ({ listeners: listeners.map(([host, port]) => ({ host, port })) });

function judge(facts: Partial<PortFacts> & { rows: RawConnection[] }): Check[] {
  return judgePort({
    port: 443,
    sockets: listeningSockets(facts.rows),
    visibility: facts.visibility ?? ROOT_NETSTAT,
    daemon: 'daemon' in facts ? facts.daemon : daemonOn(['::', 443]),
    globalIPv6: facts.globalIPv6 ?? [],
    ...(facts.selfTest === undefined ? {} : { selfTest: facts.selfTest }),
  });
}

const summary = (checks: Check[]) => checks.map((c) => `${c.status} ${c.title}`);

t.test('normalising systeminformation rows', async (t) => {
  const sockets = listeningSockets([
    row('tcp', '0.0.0.0', '443', 812, 'node'),
    row('tcp6', '::', '443', 812, 'node'),
    row('tcp', '*', '8443', 90, 'nginx'),
    row('tcp', '[::]', '9443', 91, 'haproxy'),
    row('tcp', '[fe80::1%eth0]', '10443', null),
    row('tcp6', '::1', '11443', null),
    { ...row('tcp', '127.0.0.1', '5000', 1, 'x'), state: 'ESTABLISHED' },
    row('udp', '0.0.0.0', '53', 1, 'dnsmasq'),
    row('tcp', 'garbage', '1', 1),
  ]);
  t.same(sockets, [
    { address: '0.0.0.0', port: 443, family: 'IPv4', pid: 812, process: 'node' },
    { address: '::', port: 443, family: 'IPv6', pid: 812, process: 'node' },
    { address: '::', port: 8443, family: 'IPv6', dualStack: true, pid: 90, process: 'nginx' },
    { address: '::', port: 9443, family: 'IPv6', dualStack: false, pid: 91, process: 'haproxy' },
    { address: 'fe80::1', port: 10443, family: 'IPv6' },
    { address: '::1', port: 11443, family: 'IPv6' },
  ]);
});

t.test('the daemon owns the port: one ✓ line naming pid and families', async (t) => {
  const checks = judge({ rows: [row('tcp6', '::', '443', 812, 'node')] });
  t.same(summary(checks), ['pass port 443: alpn-responder (pid 812, node) on [::] (IPv4 and IPv6)']);
  const ss = judge({ rows: [row('tcp', '*', '443', 812, 'node')], visibility: { tool: 'ss', root: true } });
  t.same(summary(ss), ['pass port 443: alpn-responder (pid 812, node) on [::] (IPv4 and IPv6)'], 'ss `*` is dual-stack');
  const byName = judge({ rows: [row('tcp', '0.0.0.0', '443', 5, 'alpn-responder')], daemon: undefined });
  t.equal(byName[0]?.status, 'pass', 'a process named alpn-responder is ours even without the control socket');
});

t.test('nginx holds 443: ✗ naming pid and process, with the layouts remedy', async (t) => {
  const checks = judge({
    rows: [row('tcp', '0.0.0.0', '443', 1234, 'nginx'), row('tcp6', '::', '443', 1234, 'nginx')],
    daemon: undefined,
  });
  t.equal(checks.length, 1);
  t.equal(checks[0]?.status, 'fail');
  t.equal(checks[0]?.title, 'port 443: nginx (pid 1234) listens on 0.0.0.0 and [::], not alpn-responder');
  t.match(checks[0]?.remedy, /127\.0\.0\.1:8443.*--backend.*docs\/layouts\.md/);
});

t.test('the daemon on IPv4 while nginx holds IPv6: both lines, the nginx one ✗', async (t) => {
  const checks = judge({
    rows: [row('tcp', '0.0.0.0', '443', 812, 'node'), row('tcp6', '::', '443', 1234, 'nginx')],
    daemon: daemonOn(['0.0.0.0', 443]),
  });
  t.same(summary(checks), [
    'pass port 443: alpn-responder (pid 812, node) on 0.0.0.0 (IPv4 only)',
    'fail port 443: nginx (pid 1234) listens on [::], not alpn-responder',
  ]);
});

t.test('IPv4 only while the host has global IPv6: ✗ the CA tries IPv6 first', async (t) => {
  const rows = [row('tcp', '0.0.0.0', '443', 812, 'node')];
  const checks = judge({ rows, daemon: daemonOn(['0.0.0.0', 443]), globalIPv6: ['2001:db8::5'] });
  t.equal(checks.length, 2);
  t.equal(checks[1]?.status, 'fail');
  t.match(checks[1]?.title, /IPv4 only, but this host has the global IPv6 address 2001:db8::5: the CA tries IPv6 first/);
  t.match(checks[1]?.remedy, /\[::\]:443/);
  const noV6 = judge({ rows, daemon: daemonOn(['0.0.0.0', 443]), globalIPv6: [] });
  t.same(noV6.map((c) => c.status), ['pass'], 'without global IPv6 IPv4-only is fine');
  const loopback = judge({ rows: [row('tcp', '127.0.0.1', '443', 812, 'node')], daemon: daemonOn(['127.0.0.1', 443]), globalIPv6: ['2001:db8::5'] });
  t.same(loopback.map((c) => c.status), ['pass'], 'a loopback listener (behind a front proxy) is not judged by family');
  const v6only = judge({ rows: [row('tcp', '[::]', '443', 812, 'node')], visibility: { tool: 'ss', root: true } });
  t.same(v6only.map((c) => c.status), ['pass', 'warn'], 'an IPv6-only wildcard misses IPv4 clients');
});

t.test('no ss or netstat: says it cannot see, never "free"', async (t) => {
  const checks = judge({ rows: [], visibility: { tool: 'none', root: true }, daemon: undefined });
  t.same(summary(checks), ['warn port 443: cannot see who listens: neither ss nor netstat is installed']);
  t.match(checks[0]?.remedy, /install iproute2/i);
  const slow = judge({ rows: [], visibility: { tool: 'timeout', root: true } });
  t.match(slow[0]?.title, /did not answer in time/);
});

t.test('an empty list from a working tool: nothing listens', async (t) => {
  t.same(judge({ rows: [], daemon: undefined }).map((c) => c.status), ['fail']);
  const namespace = judge({ rows: [] });
  t.equal(namespace[0]?.status, 'warn', 'the daemon says it listens: another network namespace, not a free port');
  t.match(namespace[0]?.title, /the daemon reports \[::\] but netstat shows no listener/);
});

t.test('not root: process names hidden, and said so', async (t) => {
  const user: SocketVisibility = { tool: 'netstat', root: false };
  const ours = judge({ rows: [row('tcp6', '::', '443', null)], visibility: user });
  t.same(summary(ours), ['pass port 443: alpn-responder (pid hidden: not root) on [::] (IPv4 and IPv6)'], 'ours by the address the daemon reports');
  const other = judge({ rows: [row('tcp', '0.0.0.0', '443', null)], visibility: user, daemon: daemonOn(['127.0.0.1', 10443]) });
  t.equal(other[0]?.status, 'fail');
  t.match(other[0]?.title, /a process hidden from this user \(not root: process names hidden\) listens on 0\.0\.0\.0/);
  t.match(other[0]?.remedy, /as root/);
  const unknown = judge({ rows: [row('tcp', '0.0.0.0', '443', null)], visibility: user, daemon: undefined });
  t.equal(unknown[0]?.status, 'warn', 'hidden and no control socket: cannot tell');
});

t.test('an unnamed node process while the control socket is down: cannot tell', async (t) => {
  const checks = judge({ rows: [row('tcp6', '::', '443', 77, 'node')], daemon: undefined });
  t.equal(checks[0]?.status, 'warn');
  t.match(checks[0]?.title, /node \(pid 77\) listens on \[::\]; whether it is alpn-responder cannot be told/);
});

t.test('a Node 24 process (ss names it MainThread) while the control socket is down: cannot tell either', async (t) => {
  const checks = judge({ rows: [row('tcp6', '::', '443', 78, 'MainThread')], daemon: undefined });
  t.equal(checks[0]?.status, 'warn');
  t.match(checks[0]?.title, /MainThread \(pid 78\) listens on \[::\]; whether it is alpn-responder cannot be told/);
});

t.test('a front proxy the self-test passed through is fine', async (t) => {
  const rows = [row('tcp', '0.0.0.0', '443', 50, 'haproxy'), row('tcp', '127.0.0.1', '10443', 812, 'node')];
  const checks = judge({ rows, daemon: daemonOn(['127.0.0.1', 10443]), selfTest: () => ({ kind: 'passed', via: '127.0.0.1:443' }) });
  t.same(summary(checks), ['pass port 443: haproxy (pid 50) on 0.0.0.0 passes acme-tls/1 on to the daemon (the self-test via 127.0.0.1:443 passed)']);
});

t.test('split family: a pass through one socket says nothing about the other family\'s', async (t) => {
  // The daemon on 0.0.0.0, openssl on [::] (IPv6-only): only the self-test over IPv6 reaches openssl.
  const rows = [row('tcp', '0.0.0.0', '443', 812, 'node'), row('tcp6', '::', '443', 60, 'openssl')];
  const verdicts = (s: { address: string }) =>
    s.address === '::'
      ? ({ kind: 'failed', via: '[::1]:443', problem: 'Incorrect validation certificate … Received certificate which is not self-signed.' } as const)
      : ({ kind: 'passed', via: '127.0.0.1:443' } as const);
  const checks = judge({ rows, daemon: daemonOn(['0.0.0.0', 443]), selfTest: verdicts });
  t.match(summary(checks), [
    'pass port 443: alpn-responder (pid 812, node) on 0.0.0.0 (IPv4 only)',
    /^fail port 443: openssl \(pid 60\) listens on \[::\], not alpn-responder: the self-test via \[::1\]:443 got "Incorrect/,
  ]);
  const untested = judge({ rows, daemon: daemonOn(['0.0.0.0', 443]), selfTest: () => ({ kind: 'untested', why: 'this host has no IPv6 loopback (::1)' }), globalIPv6: ['2001:db8::5'] });
  t.match(summary(untested)[1], /^fail port 443: openssl \(pid 60\) listens on \[::\], not alpn-responder as far as can be told: not tested, this host has no IPv6 loopback/);
  const noV6 = judge({ rows, daemon: daemonOn(['0.0.0.0', 443]), selfTest: () => ({ kind: 'untested', why: 'this host has no IPv6 loopback (::1)' }) });
  t.match(noV6[1], { status: 'warn', remedy: /no global IPv6 address/ }, 'no IPv6 at all: the CA cannot reach it either; said, not hidden');
  const quick = judge({ rows, daemon: daemonOn(['0.0.0.0', 443]) });
  t.match(summary(quick)[1], /^fail port 443: openssl \(pid 60\) listens on \[::\], not alpn-responder$/, '--quick: no self-test, no pass');
});

t.test('global IPv6 addresses: 2000::/3 only', async (t) => {
  const info = (address: string, internal = false): NetworkInterfaceInfo => ({
    address,
    family: 'IPv6',
    internal,
    netmask: 'ffff:ffff:ffff:ffff::',
    mac: '00:00:00:00:00:00',
    cidr: null,
    scopeid: 0,
  });
  const v4: NetworkInterfaceInfo = { address: '192.0.2.1', family: 'IPv4', internal: false, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: null };
  t.same(
    globalIPv6Addresses({
      lo: [info('::1', true)],
      eth0: [v4, info('fe80::1%eth0'), info('fd00::2'), info('2001:DB8::0:5'), info('2a01:4f8::1')],
    }),
    ['2001:db8::5', '2a01:4f8::1'],
  );
  t.same(globalIPv6Addresses({ eth0: [v4, info('fd00::2')] }), [], 'unique-local and link-local are out of the CA\'s reach');
});
