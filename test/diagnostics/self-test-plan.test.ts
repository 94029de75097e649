/**
 * The self-test's plan: every socket on an examined port is reached through itself, by the address family it
 * takes; a wildcard on a host without IPv6 is reported untested, never assumed.
 */
import t from 'tap';
import { row } from '../helpers/listen-rows.js';
import { listeningSockets } from '../../src/diagnostics/port-owner.js';
import { localAddresses, planSelfTest, socketFor, type LocalAddresses } from '../../src/diagnostics/self-test-plan.js';

const HOST: LocalAddresses = { ipv6Loopback: true, v4: ['192.0.2.10'], v6: ['2001:db8::10'] };
const daemonTarget = (host: string, port = 443) => ({ address: { host, port }, daemon: true });
const hosts = (plan: ReturnType<typeof planSelfTest>) => plan.probes.map((p) => `${p.daemon ? 'daemon' : 'other'} ${p.host}`);

t.test('the kernel\'s choice: exact address, then the family\'s wildcard, then a dual-stack [::] for IPv4', async (t) => {
  const sockets = listeningSockets([row('tcp', '0.0.0.0', '443', 1, 'node'), row('tcp6', '::', '443', 2, 'openssl'), row('tcp', '192.0.2.10', '8443', 3, 'x'), row('tcp', '*', '9443', 4, 'y')]);
  t.equal(socketFor('127.0.0.1', 443, sockets)?.pid, 1);
  t.equal(socketFor('::1', 443, sockets)?.pid, 2);
  t.equal(socketFor('2001:db8::10', 443, sockets)?.pid, 2);
  t.equal(socketFor('192.0.2.10', 8443, sockets)?.pid, 3);
  t.equal(socketFor('127.0.0.1', 8443, sockets), undefined);
  t.equal(socketFor('127.0.0.1', 9443, sockets)?.pid, 4, 'ss `*`: dual-stack takes IPv4');
  t.equal(socketFor('localhost', 443, sockets), undefined, 'a name is no address');
});

t.test('daemon on 0.0.0.0, openssl on [::]: the foreign socket is tested over IPv6', async (t) => {
  const sockets = listeningSockets([row('tcp', '0.0.0.0', '443', 1, 'node'), row('tcp6', '::', '443', 2, 'openssl')]);
  const plan = planSelfTest([daemonTarget('0.0.0.0')], sockets, HOST);
  t.same(hosts(plan), ['daemon 127.0.0.1', 'other ::1']);
  t.same(plan.untested, []);
});

t.test('openssl on 0.0.0.0, daemon on [::1]: the foreign socket is tested over IPv4', async (t) => {
  const sockets = listeningSockets([row('tcp', '0.0.0.0', '443', 2, 'openssl'), row('tcp6', '::1', '443', 1, 'node')]);
  const plan = planSelfTest([daemonTarget('::1')], sockets, HOST);
  t.same(hosts(plan), ['daemon ::1', 'other 127.0.0.1']);
});

t.test('the daemon\'s dual-stack [::]: both families, each destination once (no second 127.0.0.1 line)', async (t) => {
  const sockets = listeningSockets([row('tcp6', '::', '443', 1, 'node')]);
  const plan = planSelfTest([daemonTarget('::'), { address: { host: '::', port: 443 }, daemon: false }], sockets, HOST);
  t.same(hosts(plan), ['daemon 127.0.0.1', 'daemon ::1']);
});

t.test('the daemon on 0.0.0.0 and --listen [::]: 127.0.0.1 once, and ::1 for the IPv6 side', async (t) => {
  const sockets = listeningSockets([row('tcp', '0.0.0.0', '443', 1, 'node')]);
  const plan = planSelfTest([daemonTarget('0.0.0.0'), { address: { host: '::', port: 443 }, daemon: false }], sockets, HOST);
  t.same(hosts(plan), ['daemon 127.0.0.1', 'other ::1']);
});

t.test('a specific address is tested through itself', async (t) => {
  // ss prints an IPv6-only wildcard as `[::]`: IPv4 does not reach it.
  const sockets = listeningSockets([row('tcp', '[::]', '443', 1, 'node'), row('tcp', '192.0.2.10', '443', 2, 'nginx')]);
  const plan = planSelfTest([daemonTarget('::')], sockets, HOST);
  t.same(hosts(plan), ['daemon ::1', 'other 192.0.2.10'], 'IPv4 loopback would land on nothing; 192.0.2.10 lands on nginx');
});

t.test('no IPv6 on this host: the [::] socket is named untested', async (t) => {
  const sockets = listeningSockets([row('tcp', '0.0.0.0', '443', 1, 'node'), row('tcp6', '::', '443', 2, 'openssl')]);
  const plan = planSelfTest([daemonTarget('0.0.0.0')], sockets, { ipv6Loopback: false, v4: [], v6: [] });
  t.same(hosts(plan), ['daemon 127.0.0.1']);
  t.match(plan.untested, [{ socket: { pid: 2 }, why: /no IPv6 loopback \(::1\)/ }]);
  const global = planSelfTest([daemonTarget('0.0.0.0')], sockets, { ipv6Loopback: false, v4: [], v6: ['2001:db8::10'] });
  t.same(hosts(global), ['daemon 127.0.0.1', 'other 2001:db8::10'], 'without ::1 a global address serves');
});

t.test('this host\'s addresses from os.networkInterfaces()', async (t) => {
  const info = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
    ({ address, family, internal, netmask: '', mac: '', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as never;
  t.same(
    localAddresses({ lo: [info('127.0.0.1', 'IPv4', true), info('::1', 'IPv6', true)], eth0: [info('192.0.2.10', 'IPv4'), info('fe80::1%eth0', 'IPv6'), info('2001:DB8::10', 'IPv6')] }),
    { ipv6Loopback: true, v4: ['192.0.2.10'], v6: ['2001:db8::10'] },
  );
  t.same(localAddresses({ lo: [info('127.0.0.1', 'IPv4', true)] }), { ipv6Loopback: false, v4: [], v6: [] });
});
