import t from 'tap';
import { resolveRunAs } from '../../src/privilege/run-as.js';

const files = {
  passwd: 'root:x:0:0:root:/root:/bin/bash\nbroken\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nalpn:x:990:991::/:/usr/sbin/nologin\n',
  group: 'root:x:0:\nnogroup:x:65534:\nalpn:x:991:\ndehydrated:x:987:alice\n',
};

t.test('USER takes its primary group from /etc/passwd', async (t) => {
  t.same(resolveRunAs('nobody', files), { spec: 'nobody', uid: 65534, gid: 65534 });
  t.same(resolveRunAs('alpn', files), { spec: 'alpn', uid: 990, gid: 991 });
});

t.test('USER:GROUP by name or number', async (t) => {
  t.same(resolveRunAs('nobody:nogroup', files), { spec: 'nobody:nogroup', uid: 65534, gid: 65534 });
  t.same(resolveRunAs('alpn:dehydrated', files), { spec: 'alpn:dehydrated', uid: 990, gid: 987 });
  t.same(resolveRunAs('alpn:4000', files), { spec: 'alpn:4000', uid: 990, gid: 4000 });
  t.same(resolveRunAs('5000:5001', files), { spec: '5000:5001', uid: 5000, gid: 5001 }, 'numbers need no entry');
  t.same(resolveRunAs('990', files), { spec: '990', uid: 990, gid: 991 }, 'a uid alone finds its group by uid');
});

t.test('unknown accounts and bad syntax are refused', async (t) => {
  t.throws(() => resolveRunAs('ghost', files), { code: 'ERR_BAD_USER', message: /no user "ghost" in \/etc\/passwd/ });
  t.throws(() => resolveRunAs('5000', files), { code: 'ERR_BAD_USER', message: /uid 5000 has no \/etc\/passwd entry.*USER:GROUP/ });
  t.throws(() => resolveRunAs('nobody:ghosts', files), { code: 'ERR_BAD_GROUP', message: /no group "ghosts" in \/etc\/group/ });
  t.throws(() => resolveRunAs('broken', files), { code: 'ERR_BAD_USER' }, 'a line without ids');
  for (const bad of ['', ':', 'a:', ':b', 'a:b:c', 'a b', ' nobody']) {
    t.throws(() => resolveRunAs(bad, files), { code: 'ERR_BAD_USER', message: /USER or USER:GROUP/ }, JSON.stringify(bad));
  }
});
