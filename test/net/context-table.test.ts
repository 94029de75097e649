import t from 'tap';
import { createChallengeCertificate } from '../../src/challenge/certificate.js';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import { ContextTable } from '../../src/net/context-table.js';

const digest = new Uint8Array(32).fill(7);

t.test('serves what was put until it is deleted or expires', async (t) => {
  const table = new ContextTable();
  const identifier = parseIdentifier('a.example.test');
  const certificate = await createChallengeCertificate(identifier, digest);
  await table.put({ identifier, digest, expiresAt: new Date(Date.now() + 60_000) }, certificate);
  const ready = table.lookup('a.example.test');
  t.ok(ready?.context, 'a TLS context is ready');
  t.equal(table.lookup('b.example.test'), undefined);
  t.same([...table.servedBySni()], [], 'nothing served yet');
  ready!.served += 2;
  t.same([...table.servedBySni()], [['a.example.test', 2]]);
  table.delete('a.example.test');
  t.equal(table.lookup('a.example.test'), undefined, 'deleted');

  await table.put({ identifier, digest, expiresAt: new Date(Date.now() - 1) }, certificate);
  t.equal(table.lookup('a.example.test'), undefined, 'never served past its expiry');
  table.clear();
  t.same([...table.servedBySni()], []);
});

t.test('a certificate TLS cannot load is a rejected put, not a throw', async (t) => {
  const table = new ContextTable();
  const challenge = { identifier: parseIdentifier('a.example.test'), digest, expiresAt: new Date(Date.now() + 60_000) };
  await t.rejects(table.put(challenge, { certPem: 'not a certificate', keyPem: 'not a key' }));
  t.equal(table.lookup('a.example.test'), undefined);
});

t.test('a certificate put back after another keeps its context and its count; a delete forgets both', async (t) => {
  const table = new ContextTable();
  const identifier = parseIdentifier('a.example.test');
  const expiresAt = new Date(Date.now() + 60_000);
  const other = new Uint8Array(32).fill(9);
  const file = await createChallengeCertificate(identifier, digest);
  const deployed = await createChallengeCertificate(identifier, other);
  await table.put({ identifier, digest, expiresAt }, file);
  const first = table.lookup('a.example.test')!;
  first.served += 3;
  await table.put({ identifier, digest: other, expiresAt }, deployed);
  t.equal(table.lookup('a.example.test')?.served, 0, 'the other certificate counts afresh');
  await table.put({ identifier, digest, expiresAt }, file);
  const back = table.lookup('a.example.test')!;
  t.equal(back.context, first.context, 'the same TLS context, not built again');
  t.equal(back.served, 3, 'its handshakes still counted');
  table.delete('a.example.test');
  await table.put({ identifier, digest, expiresAt }, file);
  t.equal(table.lookup('a.example.test')?.served, 0, 'after a delete it starts afresh');
});
