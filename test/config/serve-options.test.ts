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
import { formatDuration, type KindInfo } from '../../src/config/option-kinds.js';
import { envName, optionRows, RESTART_ONLY, SERVE_OPTIONS, type DaemonOptions, type OptionName, type OptionRow } from '../../src/config/serve-options.js';
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

/** Text with any digits/letters around a unit typo. */
const digits = fc.integer({ min: 1, max: 99_999 }).map(String);

/** Raw values a kind must refuse, as text (command line, environment, file). */
function invalidText(name: OptionName, info: KindInfo, optional: boolean): fc.Arbitrary<string> {
  const common = fc.constantFrom('abc', '-1', '1e3', '0x10', '∞', 'NaN', 'true');
  const empty = optional ? [] : [fc.constant(''), fc.constant('   ')];
  switch (info.name) {
    case 'duration': {
      const min = info.min ?? 0;
      const max = info.max ?? 0;
      return fc.oneof(
        common,
        ...empty,
        digits.map((n) => `-${n}s`),
        fc.tuple(digits, fc.constantFrom('sec', 'S', 'mins', 'hr', 'd', 'msec', ' s', 'ss', 'mss', 'µs', 'k')).map(([n, unit]) => `${n}${unit}`),
        fc.constant(`${max + 1}ms`),
        fc.integer({ min: max + 1, max: Number.MAX_SAFE_INTEGER }).map((ms) => `${ms}ms`),
        fc.constant('99999999999h'),
        // Zero where not allowed; fractions of a millisecond.
        ...(min > 0 ? [fc.constantFrom('0', '0s', '0ms'), fc.constant(`${min - 1}ms`)] : []),
        fc.constant('0.0001s'),
        ...(name === 'ttl' ? [fc.constant('1500ms')] : []),
      );
    }
    case 'count':
    case 'size': {
      const min = info.min ?? 0;
      const max = info.max ?? 0;
      return fc.oneof(
        common,
        ...empty,
        fc.constantFrom('2.5', '10k', '1 000', '+5', '5s'),
        fc.integer({ min: max + 1, max: Number.MAX_SAFE_INTEGER }).map(String),
        fc.constant('99999999999999999999'),
        fc.integer({ min: 1, max: 1_000_000 }).map((n) => `-${n}`),
        ...(min > 0 ? [fc.integer({ min: 0, max: min - 1 }).map(String)] : []),
      );
    }
    case 'enum':
      return fc.oneof(
        ...empty,
        fc.string({ minLength: 1, maxLength: 8 }).filter((text) => text.trim() !== '' && !(info.choices ?? []).includes(text.trim())),
        fc.constantFrom(...(info.choices ?? []).map((choice) => choice.toUpperCase()).filter((upper) => !(info.choices ?? []).includes(upper))),
      );
    case 'flag':
      return fc.constantFrom('yes', 'no', 'on', '2', 'TRUE', '', 'tru');
    case 'path':
      return fc.oneof(...empty, fc.constant('a\0b'));
    case 'text':
      return fc.oneof(...empty, fc.constantFrom('has space', 'é', 'a'.repeat(65), 'tab\there'));
    case 'address':
      return fc.constantFrom('nonsense', '1.2.3.4', '1.2.3.4:99999', '[::1', '::1:443', 'host:-1', ':443');
    case 'backend':
      return fc.constantFrom('nowhere', 'a.test=nowhere', '127.0.0.1:0', '127.0.0.1:1 127.0.0.1:2', 'bad name=127.0.0.1:1');
    case 'mode':
      return fc.constantFrom('999', 'rw', '01660', '66', '', 'u+rw');
    case 'group':
      return fc.constantFrom('no-such-group', 'wheel2', '-1', '12345678901');
    case 'user':
      return fc.constantFrom('no-such-user', 'acme:no-such-group', '5000', 'a:b:c', ':');
    case 'url':
      return fc.constantFrom('http://127.0.0.1:6379', 'redis//x', 'redis://', 'localhost:6379', 'redis://h:99999');
  }
}

/** Raw values a kind must accept, with the value they must become. */
function validValue(name: OptionName, row: OptionRow): fc.Arbitrary<{ raw: unknown; check: (options: DaemonOptions) => unknown }> {
  const info = row.kind.info;
  const at = (options: DaemonOptions): unknown => (options as unknown as Record<string, unknown>)[row.key];
  switch (info.name) {
    case 'duration': {
      const whole = name === 'ttl';
      const scale = whole ? 1000 : 1;
      return fc
        .integer({ min: Math.ceil((info.min ?? 0) / scale), max: Math.floor((info.max ?? 0) / scale) })
        .map((n) => n * scale)
        .chain((ms) => {
          const forms: unknown[] = [`${ms}ms`, formatDuration(ms)];
          if (ms % 1000 === 0) forms.push(String(ms / 1000), ms / 1000, `${ms / 1000}s`);
          if (ms % 100 === 0) forms.push(String(ms / 1000));
          const expected = whole ? ms / 1000 : ms;
          return fc.constantFrom(...forms).map((raw) => ({
            raw,
            check: (options: DaemonOptions) => (name === 'store-timeout' ? options.store?.timeoutMs : at(options)) === expected,
          }));
        });
    }
    case 'count':
    case 'size':
      return fc.integer({ min: info.min ?? 0, max: info.max ?? 0 }).chain((n) =>
        fc.constantFrom<unknown>(String(n), n, ` ${n} `).map((raw) => ({ raw, check: (options: DaemonOptions) => at(options) === n })),
      );
    case 'enum':
      return fc.constantFrom(...(info.choices ?? [])).map((choice) => ({
        raw: choice,
        check: (options: DaemonOptions) => (name === 'store-fallback' ? options.store?.fallback : at(options)) === choice,
      }));
    case 'flag':
      return fc.constantFrom<[unknown, boolean]>(['true', true], ['false', false], ['1', true], ['0', false], [true, true], [false, false]).map(([raw, value]) => ({
        raw,
        check: (options: DaemonOptions) => at(options) === value,
      }));
    case 'path':
      // --config is read by the CLI, not passed on: accepted is all that can be seen here.
      return fc.constantFrom('/var/lib/alpn-responder/state.json', '/run/x.sock', '/srv/acme').map((raw) => ({ raw, check: (options: DaemonOptions) => name === 'config' || at(options) === raw }));
    case 'text':
      return fc.stringMatching(/^[!-~]{1,64}$/).map((raw) => ({ raw, check: (options: DaemonOptions) => options.store?.prefix === raw }));
    case 'address':
      return fc.constantFrom<[unknown, string[]]>(['0.0.0.0:443', ['0.0.0.0:443']], ['[::]:443 127.0.0.1:8443', ['[::]:443', '127.0.0.1:8443']], [['[::1]:0', 'localhost:9'], ['[::1]:0', 'localhost:9']]).map(([raw, want]) => ({
        raw,
        check: (options: DaemonOptions) => options.listen.map((a) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`)).join() === want.join(),
      }));
    case 'backend':
      return fc.constantFrom<unknown>('127.0.0.1:8443', ['127.0.0.1:8443', 'a.test=[::1]:9443'], 'a.test=[::1]:9443,*.b.test=127.0.0.1:1').map((raw) => ({
        raw,
        check: (options: DaemonOptions) => options.backends.values.join() === (Array.isArray(raw) ? raw : String(raw).split(',')).join(),
      }));
    case 'mode':
      return fc.constantFrom<[unknown, number]>(['0660', 0o660], ['600', 0o600], [640, 0o640]).map(([raw, mode]) => ({ raw, check: (options: DaemonOptions) => options.controlMode === mode }));
    case 'group':
      return fc.constantFrom<[string, number]>(['dehydrated', 992], ['acme', 991], ['4242', 4242]).map(([raw, gid]) => ({ raw, check: (options: DaemonOptions) => options.controlGid === gid }));
    case 'user':
      return fc.constantFrom<[string, number, number]>(['acme', 990, 991], ['acme:dehydrated', 990, 992], ['65534:65534', 65534, 65534]).map(([raw, uid, gid]) => ({
        raw,
        check: (options: DaemonOptions) => options.runAs?.uid === uid && options.runAs.gid === gid,
      }));
    case 'url':
      return fc.constantFrom('redis://127.0.0.1:6379/0', 'rediss://user:pw@redis.example:6380/1').map((raw) => ({ raw, check: (options: DaemonOptions) => options.store?.target !== undefined }));
  }
}

/** Options whose empty value means "off" rather than an error. */
function isOptional(row: OptionRow): boolean {
  return !('default' in row) || row.default === undefined;
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
  t.ok(options.workers >= 1 && options.workers <= 64);
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
  t.equal(await refuse({ 'control-group': 'nope' }), '--control-group "nope": a group in /etc/group or a numeric gid (no group "nope" in /etc/group)');
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
