import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseMode, resolveGroup } from '../../src/control/group.js';

t.test('resolves names through the group file and numbers as is', async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, 'group');
  writeFileSync(file, 'root:x:0:\nbroken\ndehydrated:x:987:alice\n');
  t.equal(await resolveGroup('dehydrated', file), 987);
  t.equal(await resolveGroup('root', file), 0);
  t.equal(await resolveGroup('1234', file), 1234);
  await t.rejects(resolveGroup('nobody-here', file), { code: 'ERR_BAD_GROUP' });
  await t.rejects(resolveGroup('x', path.join(dir, 'missing')), { code: 'ERR_BAD_GROUP' });
});

t.test('modes are octal', async (t) => {
  t.equal(parseMode('0660'), 0o660);
  t.equal(parseMode('600'), 0o600);
  for (const bad of ['0999', '66', 'rw', '01660']) t.throws(() => parseMode(bad), { code: 'ERR_BAD_MODE' });
});
