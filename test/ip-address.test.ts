import net from 'node:net';
import t from 'tap';
import { formatIpAddress, ipVersion, isCanonicalIPv4, isLoopbackAddress, parseIPv4, parseIPv6, withoutZone } from '../src/ip-address.js';

const SAMPLES = [
  '192.0.2.1', '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '1.2.3.4 ', '',
  '::', '::1', '2001:db8::1', '2001:DB8::1', '::ffff:192.0.2.1', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1::2::3',
  'fe80::1%eth0', '[::1]', 'example.com', '12345::', 'g::1', '1:2:3:4:5:6:1.2.3.4', '::1.2.3.256',
];

t.test('ipVersion agrees with node:net on addresses without a zone', async (t) => {
  for (const text of SAMPLES) {
    const expected = text.includes('%') ? 0 : net.isIP(text);
    t.equal(ipVersion(text) ?? 0, expected, JSON.stringify(text));
  }
});

t.test('the canonical dotted quad is what Node writes', async (t) => {
  for (const text of SAMPLES) t.equal(isCanonicalIPv4(text), net.isIPv4(text), JSON.stringify(text));
  t.equal(isCanonicalIPv4('10.0.0.1'), true);
});

t.test('a zone is cut off, and only a zone', async (t) => {
  t.equal(withoutZone('fe80::1%eth0'), 'fe80::1');
  t.equal(withoutZone('fe80::1'), 'fe80::1');
  t.equal(ipVersion(withoutZone('fe80::1%eth0')), 6);
});

t.test('text to bytes and back', async (t) => {
  t.same(parseIPv4('192.0.2.1'), Uint8Array.from([192, 0, 2, 1]));
  t.equal(formatIpAddress(parseIPv6('2001:DB8:0:0:0:0:0:1')!), '2001:db8::1');
  t.equal(formatIpAddress(parseIPv6('::ffff:c000:201')!), '::ffff:192.0.2.1');
});

t.test('loopback: 127.0.0.0/8, ::1 in any spelling, IPv4-mapped 127.x; nothing else', async (t) => {
  for (const yes of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::1%lo']) t.ok(isLoopbackAddress(yes), yes);
  for (const no of ['0.0.0.0', '::', '128.0.0.1', '::2', '::ffff:10.0.0.1', '2001:db8::1', 'localhost', '']) t.notOk(isLoopbackAddress(no), no);
});
