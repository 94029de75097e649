/**
 * Property tests over the whole option table: for every `serve` option, values drawn from its kind's wrong side
 * (wrong type, negative, zero where not allowed, too large, empty, unit typos) are refused naming the option, from
 * the command line, the environment and the config file alike; values drawn from its right side are accepted and
 * reach the daemon's options. The reader is the one SIGHUP uses, so this covers reloads too (test/cli/ reloads a real
 * daemon). Also: docs/serve.md's options table is the one generated from the table.
 */
import t from 'tap';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { readServeOptions, type OptionSources } from '../../src/cli/options.js';
import { invalidText, isOptional, validValue } from '../helpers/option-values.js';
import { envName, optionRows, RESTART_ONLY, SERVE_OPTIONS, type OptionName } from '../../src/config/serve-options.js';
import { optionsMarkdown, SERVE_DOC, withGeneratedTable } from '../../scripts/options-doc.js';

const accountFiles = {
  passwd: 'root:x:0:0:root:/root:/bin/sh\nacme:x:990:991::/var/lib/acme:/usr/sbin/nologin\n',
  group: 'root:x:0:\nacme:x:991:\ndehydrated:x:992:\n',
};

const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

type Via = 'argv' | 'env' | 'file';

/** The sources an option may come from: `--config` names the file, so it cannot be in it. */
function vias(name: OptionName): fc.Arbitrary<Via> {
  return name === 'config' ? fc.constantFrom<Via>('argv', 'env') : fc.constantFrom<Via>('argv', 'env', 'file');
}

/** The sources with `name` set to `raw` through `via`; the store options get a --store to belong to. */
function sources(name: OptionName, raw: unknown, via: Via): OptionSources {
  const argv: Record<string, unknown> = {};
  if (name.startsWith('store-')) argv.store = 'redis://127.0.0.1:6379/0';
  if (via === 'argv') argv[name] = raw;
  return {
    argv,
    env: via === 'env' ? { [envName(name)]: raw as string } : {},
    file: via === 'file' ? { path: '/etc/alpn-responder.json', values: { [name]: raw } } : undefined,
    accountFiles,
  };
}

for (const [name, row] of optionRows()) {
  t.test(`--${name}: invalid values are refused naming the option, from every source`, async (t) => {
    await fc.assert(
      fc.asyncProperty(invalidText(name, row.kind.info, isOptional(row) && name !== 'backend'), vias(name), async (raw, via) => {
        const error = await readServeOptions(sources(name, raw, via)).then(
          () => undefined,
          (e: unknown) => e as { code?: string; message?: string },
        );
        if (error?.code !== 'ERR_BAD_OPTION') throw new Error(`--${name} ${JSON.stringify(raw)} via ${via}: ${error === undefined ? 'accepted' : String(error.message)}`);
        if (!error.message?.startsWith(`--${name} `)) throw new Error(`message does not start with the option: ${error.message}`);
        if (via === 'env' && !error.message.includes(envName(name))) throw new Error(`message does not name ${envName(name)}: ${error.message}`);
        if (via === 'file' && !error.message.includes('/etc/alpn-responder.json')) throw new Error(`message does not name the file: ${error.message}`);
        if (error.message.includes('\n')) throw new Error('more than one line');
      }),
      { numRuns: RUNS },
    );
  });

  t.test(`--${name}: wrong JSON types in the config file are refused naming the option`, async (t) => {
    const wrong: unknown[] = [{}, null, [[1]], [{ a: 1 }]];
    if (row.kind.info.name !== 'flag') wrong.push(true);
    if (!row.list) wrong.push(['a', 'b'], [1]);
    for (const raw of wrong) {
      const expected = name === 'config' ? { code: 'ERR_BAD_CONFIG', message: /unknown option "config"/ } : { code: 'ERR_BAD_OPTION', message: new RegExp(`^--${name} `) };
      await t.rejects(readServeOptions(sources(name, raw, 'file')), expected, JSON.stringify(raw));
    }
  });

  t.test(`--${name}: valid values are accepted and reach the daemon's options`, async (t) => {
    await fc.assert(
      fc.asyncProperty(validValue(name, row), vias(name), async ({ raw, check }, via) => {
        // The environment and the command line carry text.
        const given = via === 'file' ? raw : Array.isArray(raw) ? (via === 'argv' ? raw : raw.join(' ')) : String(raw);
        const options = await readServeOptions(sources(name, given, via));
        if (!check(options)) throw new Error(`--${name} ${JSON.stringify(given)} via ${via} did not become the expected value`);
      }),
      { numRuns: RUNS },
    );
  });
}

t.test('the defaults are valid and have the documented values', async (t) => {
  const options = await readServeOptions({ argv: {}, env: {}, accountFiles });
  t.equal(options.helloTimeoutMs, 10_000);
  t.equal(options.handshakeTimeoutMs, 10_000);
  t.equal(options.idleTimeoutMs, 300_000);
  t.equal(options.backendConnectTimeoutMs, 5_000);
  t.equal(options.shutdownTimeoutMs, 10_000);
  t.equal(options.ttlSeconds, 3600);
  t.equal(options.maxConnectionsPerSource, 64);
  t.same(options.listen, [{ host: '::', port: 443 }]);
  t.equal(options.store, undefined);
  t.equal(options.controlGid, undefined);
  t.equal(options.workers, 1, 'one process unless told otherwise');
});

t.test('precedence: command line, then environment, then file, then default', async (t) => {
  const file = { path: 'c.json', values: { 'hello-timeout': 3, 'idle-timeout': '7s', 'max-challenges': 9 } };
  const options = await readServeOptions({
    argv: { 'hello-timeout': '1s' },
    env: { ALPN_RESPONDER_IDLE_TIMEOUT: '2s', ALPN_RESPONDER_TRANSPORT: 'nc' },
    file,
    accountFiles,
  });
  t.equal(options.helloTimeoutMs, 1000, 'command line over file');
  t.equal(options.idleTimeoutMs, 2000, 'environment over file');
  t.equal(options.maxChallenges, 9, 'file over default');
  t.equal(options.handshakeTimeoutMs, 10_000, 'default');
  t.equal((await readServeOptions({ argv: { 'hello-timeout': ['1s', '2s'] }, env: {}, accountFiles })).helloTimeoutMs, 2000, 'the last of a repeated option');
});

t.test('config-file keys: option names only, not --config; a number as 3600 or "3600"', async (t) => {
  const read = (values: Record<string, unknown>) => readServeOptions({ argv: {}, env: {}, file: { path: 'c.json', values }, accountFiles });
  await t.rejects(read({ 'idle-timeuot': 5 }), { code: 'ERR_BAD_CONFIG', message: 'c.json: unknown option "idle-timeuot"; see `alpn-responder serve --help`' });
  await t.rejects(read({ maxChallenges: 5 }), { code: 'ERR_BAD_CONFIG', message: /unknown option "maxChallenges"/ });
  await t.rejects(read({ config: 'x' }), { code: 'ERR_BAD_CONFIG', message: /unknown option "config"/ });
  t.equal((await read({ ttl: 3600 })).ttlSeconds, 3600);
  t.equal((await read({ ttl: '3600' })).ttlSeconds, 3600);
  t.equal((await read({ 'max-challenges': '5' })).maxChallenges, 5);
});

t.test('the issue\'s examples, one line each', async (t) => {
  const refuse = (argv: Record<string, unknown>) => readServeOptions({ argv, env: {}, accountFiles }).then(() => 'accepted', (e: Error) => e.message);
  t.equal(await refuse({ 'hello-timeout': 'abc' }), '--hello-timeout "abc": a duration from 1ms to 10m such as 10s or 500ms (a bare number is seconds)');
  t.equal(await refuse({ 'max-challenges': '2.5' }), '--max-challenges "2.5": a whole number from 1 to 1000000');
  t.equal(await refuse({ 'control-group': 'nope' }), '--control-group "nope": a group in /etc/group or a numeric gid (no group "nope" in /etc/group; create it or pass a numeric gid)');
  t.match(await refuse({ user: 'nope' }), /^--user "nope": USER or USER:GROUP .*\(no user "nope" in \/etc\/passwd/);
  t.equal((await readServeOptions({ argv: { 'hello-timeout': '10s' }, env: {}, accountFiles })).helloTimeoutMs, 10_000, '10s is ten seconds, not NaN');
  t.equal((await readServeOptions({ argv: { 'hello-timeout': '10' }, env: {}, accountFiles })).helloTimeoutMs, 10_000, 'a bare 10 is still ten seconds');
});

t.test('--store with --state is refused', async (t) => {
  await t.rejects(readServeOptions({ argv: { store: 'redis://h:6379/0', state: '/x' }, env: {}, accountFiles }), { code: 'ERR_BAD_STORE' });
});

t.test('the restart-only list comes from the table', async (t) => {
  const names = RESTART_ONLY.map(({ name }) => name);
  for (const [name, row] of optionRows()) {
    if (name === 'config' || name.startsWith('store-')) continue;
    t.equal(names.includes(name), !row.reload, `--${name}`);
  }
  t.ok(RESTART_ONLY.some(({ key, name }) => key === 'store' && name === 'store'), 'the --store-* options reach the daemon as store');
  t.notOk(SERVE_OPTIONS['hello-timeout'].reload === false);
});

t.test('docs/serve.md has the options table generated from the table', async (t) => {
  const doc = readFileSync(SERVE_DOC, 'utf8');
  t.ok(doc.includes(optionsMarkdown()), 'run `npm run docs:options` after changing src/config/serve-options.ts');
  t.equal(withGeneratedTable(doc), doc);
  for (const [name] of optionRows()) t.match(doc, `| \`--${name}`, `--${name} documented`);
});
