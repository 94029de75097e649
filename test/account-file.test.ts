import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { MAX_ACCOUNT_FILE_BYTES, findAccountEntry, readAccountFile } from '../src/account-file.js';
import { shortTempDir } from './helpers/tmp.js';

t.test('reads whole lines, at most the limit', async (t) => {
  const dir = shortTempDir(t);
  const small = path.join(dir, 'passwd');
  writeFileSync(small, 'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n');
  t.same(findAccountEntry(await readAccountFile(small), 'nobody')?.slice(0, 4), ['nobody', 'x', '65534', '65534']);
  t.equal(findAccountEntry(await readAccountFile(small), 'nob'), undefined, 'whole names only');
  t.equal(await readAccountFile(path.join(dir, 'missing')), '', 'a missing file reads as empty');

  const filler = 'x'.repeat(99) + '\n';
  const large = path.join(dir, 'large');
  // An entry just inside the limit, one cut by it, one beyond it.
  const head = filler.repeat(Math.floor((MAX_ACCOUNT_FILE_BYTES - 200) / filler.length));
  const padding = 'y'.repeat(MAX_ACCOUNT_FILE_BYTES - head.length - 'inside:x:1:1\n'.length - 6) + '\n';
  const body = `${head}inside:x:1:1\n${padding}cut:x:22222:2\nbeyond:x:3:3\n`;
  writeFileSync(large, body);
  const text = await readAccountFile(large);
  t.ok(text.length <= MAX_ACCOUNT_FILE_BYTES);
  t.same(findAccountEntry(text, 'inside')?.[2], '1');
  t.equal(text.includes('\ncut:'), false, 'a line cut by the limit (after "cut:x") is dropped, not half-read');
  t.equal(findAccountEntry(text, 'cut'), undefined);
  t.equal(findAccountEntry(text, 'beyond'), undefined);
});
