import t from 'tap';
import { formatMode, groupId, parseMode } from '../../src/control/group.js';

t.test('resolves names through the group file and numbers as is', async (t) => {
  const text = 'root:x:0:\nbroken\ndehydrated:x:987:alice\n';
  t.equal(groupId('dehydrated', text), 987);
  t.equal(groupId('root', text), 0);
  t.equal(groupId('1234', text), 1234);
  t.throws(() => groupId('nobody-here', text), { code: 'ERR_BAD_GROUP', message: /no group "nobody-here" in \/etc\/group/ });
  t.throws(() => groupId('broken', text), { code: 'ERR_BAD_GROUP' }, 'a line without a gid');
  t.throws(() => groupId('x', ''), { code: 'ERR_BAD_GROUP' }, 'an unreadable /etc/group reads as empty');
});

t.test('modes are octal', async (t) => {
  t.equal(parseMode('0660'), 0o660);
  t.equal(parseMode('600'), 0o600);
  for (const bad of ['0999', '66', 'rw', '01660']) t.throws(() => parseMode(bad), { code: 'ERR_BAD_MODE' });
  // The mode is the control socket's only access control: nothing for "other", ever.
  for (const open of ['0777', '0606', '0007', '664', '0001']) {
    t.throws(() => parseMode(open), { code: 'ERR_BAD_MODE', message: /gives others access, and the mode is the control socket's only access control$/ }, open);
  }
  t.equal(formatMode(0o660), '0660');
  t.equal(formatMode(0o60), '0060', 'four digits, never `60` or `7`');
});
