import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { readConfigFile } from '../../src/cli/config-file.js';
import { main } from '../../src/cli/main.js';
import { shortTempDir } from '../helpers/tmp.js';

t.test('reads one JSON object, bounded, with clear errors', async (t) => {
  const dir = shortTempDir(t);
  const file = (name: string, text: string) => {
    writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  t.same(await readConfigFile(file('ok.json', '{"listen": ["0.0.0.0:443"]}')), { listen: ['0.0.0.0:443'] });
  // The remedy fits the failure: no "fix the named key" where no key was read.
  await t.rejects(readConfigFile(path.join(dir, 'missing.json')), { code: 'ERR_BAD_CONFIG', message: /cannot be read \(ENOENT\)/, remedy: /^No such file: fix the --config path/ });
  await t.rejects(readConfigFile(dir), { code: 'ERR_BAD_CONFIG', message: /not a regular file/, remedy: /^Point --config at the JSON file itself/ });
  await t.rejects(readConfigFile(file('bad.json', '{nope')), { code: 'ERR_BAD_CONFIG', message: /not valid JSON/, remedy: /^Fix the JSON syntax/ });
  await t.rejects(readConfigFile(file('array.json', '[1]')), { code: 'ERR_BAD_CONFIG', message: /one JSON object/, remedy: /^The file holds one JSON object of serve options/ });
  await t.rejects(readConfigFile(file('big.json', `{"x":"${'a'.repeat(1024 * 1024)}"}`)), { code: 'ERR_BAD_CONFIG', message: /larger than/ });
});

t.test('serve refuses a bad config before binding anything', async (t) => {
  const dir = shortTempDir(t);
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ listen: ['127.0.0.1:0'], 'idle-timeuot': 5 }));
  let stderr = '';
  const io = { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } };
  t.equal(await main(['serve', '--config', file, '--control', path.join(dir, 'c.sock')], io, {}), 2, 'a usage error');
  t.match(stderr, /ERR_BAD_CONFIG: .*unknown option "idle-timeuot".*\n  Fix or remove the named key/);
  t.notMatch(stderr, /event=listening/);
});

t.test('a deeply nested value in the config file gets a clean usage error, not a stack overflow', async (t) => {
  const dir = shortTempDir(t);
  const file = path.join(dir, 'deep.json');
  // 400,000 levels (800 KB): JSON.parse takes it; quoting it in the error message must not recurse that deep.
  writeFileSync(file, `{"ttl": ${'['.repeat(400_000)}${']'.repeat(400_000)}}`);
  let stderr = '';
  const io = { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } };
  t.equal(await main(['serve', '--config', file, '--control', path.join(dir, 'c.sock')], io, {}), 2, 'a usage error');
  t.match(stderr, /ERR_BAD_OPTION --ttl \[{60}… \(from .*deep\.json\)/, 'the value is quoted, cut short');
  t.notMatch(stderr, /RangeError|event=listening/);
});
