import t from 'tap';
import { StartGate } from '../src/start-gate.js';

t.test('holds work until opened, then lets everything through', async (t) => {
  const gate = new StartGate();
  const done: string[] = [];
  const early = gate.through(
    () => {
      done.push('early');
      return 'worked';
    },
    () => 'refused',
  );
  await Promise.resolve();
  t.same(done, [], 'nothing runs before open()');
  t.equal(gate.isOpen, false);
  gate.open();
  t.equal(gate.isOpen, true);
  t.equal(await early, 'worked');
  t.equal(await gate.through(async () => 'late', () => 'refused'), 'late');
});

t.test('refuses everything when start-up fails', async (t) => {
  const gate = new StartGate();
  const held = gate.through(() => 'worked', () => 'refused');
  gate.fail();
  t.equal(gate.isOpen, false, 'a failed gate never opens');
  t.equal(await held, 'refused');
  t.equal(await gate.through(() => 'worked', () => 'refused'), 'refused');
});
