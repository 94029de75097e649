/** The permission rule of the state check, bit by bit (no supplementary groups: the daemon drops them). */
import t from 'tap';
import { permits } from '../../src/diagnostics/state-dir-check.js';

t.test('owner, group, other, root', async (t) => {
  const user = { uid: 1000, gid: 1000 };
  t.ok(permits({ uid: 1000, gid: 0, mode: 0o700 }, user, 2), 'owner bits');
  t.notOk(permits({ uid: 1000, gid: 1000, mode: 0o570 }, user, 2), 'the owner bits decide even when the group\'s would allow');
  t.ok(permits({ uid: 0, gid: 1000, mode: 0o770 }, user, 2), 'primary group');
  t.notOk(permits({ uid: 0, gid: 0, mode: 0o755 }, user, 2), 'root-owned 0755: no');
  t.ok(permits({ uid: 0, gid: 0, mode: 0o755 }, user, 1), 'but it may enter');
  t.ok(permits({ uid: 0, gid: 0, mode: 0o1777 }, user, 2), 'other bits (/tmp)');
  t.ok(permits({ uid: 5, gid: 5, mode: 0o000 }, { uid: 0, gid: 0 }, 2), 'root writes anywhere');
  t.notOk(permits({ uid: 5, gid: 5, mode: 0o600 }, { uid: 0, gid: 0 }, 1), 'root needs one x bit to search');
});
