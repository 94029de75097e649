import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { applyConfig, givenOnCommandLine, readConfigFile } from '../../src/cli/config-file.js';
import { main } from '../../src/cli/main.js';
import { shortTempDir } from '../helpers/tmp.js';

const args = { listen: ['[::]:443'], ttl: '3600', 'max-challenges': 10, maxChallenges: 10, 'accept-proxy-protocol': false, acceptProxyProtocol: false, 'control-group': undefined, controlGroup: undefined };

t.test('reads one JSON object, bounded, with clear errors', async (t) => {
  const dir = shortTempDir(t);
  const file = (name: string, text: string) => {
    writeFileSync(path.join(dir, name), text);
    return path.join(dir, name);
  };
  t.same(await readConfigFile(file('ok.json', '{"listen": ["0.0.0.0:443"]}')), { listen: ['0.0.0.0:443'] });
  await t.rejects(readConfigFile(path.join(dir, 'missing.json')), { code: 'ERR_BAD_CONFIG', message: /cannot be read \(ENOENT\)/ });
  await t.rejects(readConfigFile(dir), { code: 'ERR_BAD_CONFIG', message: /not a regular file/ });
  await t.rejects(readConfigFile(file('bad.json', '{nope')), { code: 'ERR_BAD_CONFIG', message: /not valid JSON/ });
  await t.rejects(readConfigFile(file('array.json', '[1]')), { code: 'ERR_BAD_CONFIG', message: /one JSON object/ });
  await t.rejects(readConfigFile(file('big.json', `{"x":"${'a'.repeat(1024 * 1024)}"}`)), { code: 'ERR_BAD_CONFIG', message: /larger than/ });
});

t.test('file values fill in only what was not set explicitly', async (t) => {
  const merged = applyConfig(args, { listen: ['0.0.0.0:8443'], 'max-challenges': 5, 'control-group': 'dehydrated', 'accept-proxy-protocol': true }, 'c.json', (name) => name === 'max-challenges');
  t.same(merged.listen, ['0.0.0.0:8443']);
  t.equal(merged.maxChallenges, 10, 'explicit value wins');
  t.equal(merged.controlGroup, 'dehydrated');
  t.equal(merged.acceptProxyProtocol, true);
});

t.test('unknown keys and wrong types are named', async (t) => {
  const never = () => false;
  t.throws(() => applyConfig(args, { lsten: [] }, 'c.json', never), { code: 'ERR_BAD_CONFIG', message: 'c.json: unknown option "lsten"; see `alpn-responder serve --help`' });
  t.throws(() => applyConfig(args, { maxChallenges: 5 }, 'c.json', never), { message: /unknown option "maxChallenges"/ }, 'camelCase keys are not option names');
  t.throws(() => applyConfig(args, { config: 'x' }, 'c.json', never), { message: /unknown option "config"/ });
  t.throws(() => applyConfig(args, { listen: '0.0.0.0:1' }, 'c.json', never), { message: /"listen" must be an array of strings/ });
  t.throws(() => applyConfig(args, { 'max-challenges': '5' }, 'c.json', never), { message: /"max-challenges" must be a number/ });
  t.throws(() => applyConfig(args, { 'control-group': 5 }, 'c.json', never), { message: /"control-group" must be a string/ });
});

t.test('command-line detection', async (t) => {
  t.ok(givenOnCommandLine(['serve', '--listen', 'x'], 'listen'));
  t.ok(givenOnCommandLine(['serve', '--ttl=5'], 'ttl'));
  t.ok(givenOnCommandLine(['serve', '--no-accept-proxy-protocol'], 'accept-proxy-protocol'));
  t.notOk(givenOnCommandLine(['serve', '--listen-x'], 'listen'));
});

t.test('serve refuses a bad config before binding anything', async (t) => {
  const dir = shortTempDir(t);
  const file = path.join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ listen: ['127.0.0.1:0'], 'idle-timeuot': 5 }));
  let stderr = '';
  const io = { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } };
  t.equal(await main(['serve', '--config', file, '--control', path.join(dir, 'c.sock')], io, {}), 1);
  t.match(stderr, /ERR_BAD_CONFIG: .*unknown option "idle-timeuot"/);
  t.notMatch(stderr, /event=listening/);
});
