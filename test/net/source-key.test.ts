import t from 'tap';
import { sourceKey } from '../../src/net/source-key.js';

t.test('IPv4 as is, mapped IPv4 as IPv4, IPv6 by /64', async (t) => {
  t.equal(sourceKey('192.0.2.7'), '192.0.2.7');
  t.equal(sourceKey('::ffff:192.0.2.7'), '192.0.2.7');
  t.equal(sourceKey('2001:db8:1:2::1'), '2001:0db8:0001:0002::/64');
  t.equal(sourceKey('2001:db8:1:2:ffff::9'), sourceKey('2001:db8:1:2::1'), 'same /64, same source');
  t.not(sourceKey('2001:db8:1:3::1'), sourceKey('2001:db8:1:2::1'));
  t.equal(sourceKey('fe80::1%eth0'), 'fe80:0000:0000:0000::/64');
  t.equal(sourceKey('?'), '?');
  t.equal(sourceKey('::FFFF:192.0.2.7'), '192.0.2.7', 'mapped IPv4 in any case');
  t.equal(sourceKey('0:0:0:0:0:ffff:c000:207'), '192.0.2.7', 'mapped IPv4 written in hex');
  t.equal(sourceKey('192.0.2.07'), '192.0.2.07', 'not an IPv4 address: counts as itself');
  t.equal(sourceKey('::ffff:192.0.2.256'), '::ffff:192.0.2.256');
});
