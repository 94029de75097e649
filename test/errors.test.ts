import t from 'tap';
import { AlpnResponderError, ERROR_CODES, codeFromProtocol, hasCode, protocolCode } from '../src/errors.js';

t.test('protocol code round-trips for every code', async (t) => {
  for (const code of Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[]) {
    t.equal(codeFromProtocol(protocolCode(code)), code);
  }
  t.equal(protocolCode('ERR_BAD_IDENTIFIER'), 'bad-identifier');
  t.equal(codeFromProtocol('no-such-thing'), undefined);
});

t.test('errors carry code and remedy', async (t) => {
  const e = new AlpnResponderError('ERR_BAD_TTL', 'ttl "x" is not a number');
  t.ok(hasCode(e, 'ERR_BAD_TTL'));
  t.notOk(hasCode(e, 'ERR_BAD_IDENTIFIER'));
  t.notOk(hasCode(new Error('x'), 'ERR_BAD_TTL'));
  t.match(e.remedy, /seconds/);
});

t.test('docs/errors.md documents exactly the codes in src/errors.ts', async (t) => {
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...text.matchAll(/^\| `(ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  t.same([...documented].sort(), Object.keys(ERROR_CODES).sort());
});

t.test('every code is raised somewhere in src/', async (t) => {
  const { readFileSync, readdirSync } = await import('node:fs');
  const root = new URL('../src/', import.meta.url);
  const sources = (readdirSync(root, { recursive: true }) as string[])
    .filter((file) => file.endsWith('.ts') && file !== 'errors.ts')
    .map((file) => readFileSync(new URL(file, root), 'utf8'))
    .join('\n');
  for (const code of Object.keys(ERROR_CODES)) t.ok(sources.includes(`'${code}'`), `${code} is used`);
});
