/**
 * Values for every kind of `serve` option (src/config/option-kinds.ts), drawn with fast-check: ones the kind must
 * refuse and ones it must accept, with the daemon option each must become. Shared by the in-process property tests
 * and the real-daemon ones (start, SIGHUP).
 */
import fc from 'fast-check';
import { formatDuration, type KindInfo } from '../../src/config/option-kinds.js';
import type { DaemonOptions, OptionName, OptionRow } from '../../src/config/serve-options.js';

/** Text with any digits/letters around a unit typo. */
const digits = fc.integer({ min: 1, max: 99_999 }).map(String);

/** Raw values a kind must refuse, as text (command line, environment, file). */
export function invalidText(name: OptionName, info: KindInfo, optional: boolean): fc.Arbitrary<string> {
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
      return fc.constantFrom('nonsense', '1.2.3.4', '1.2.3.4:99999', '[::1', '::1:443', 'host:-1', ':443', '999.1.1.1:18445', 'nonexistent.invalid:18479', 'localhost:443');
    case 'backend':
      return fc.constantFrom('nowhere', 'a.test=nowhere', '127.0.0.1:0', '127.0.0.1:1 127.0.0.1:2', 'bad name=127.0.0.1:1');
    case 'mode':
      return fc.constantFrom('999', 'rw', '01660', '66', '', 'u+rw', '0777', '0606', '0007', '664');
    case 'group':
      return fc.constantFrom('no-such-group', 'wheel2', '-1', '12345678901');
    case 'user':
      return fc.constantFrom('no-such-user', 'acme:no-such-group', '5000', 'a:b:c', ':');
    case 'url':
      return fc.constantFrom('http://127.0.0.1:6379', 'redis//x', 'redis://', 'localhost:6379', 'redis://h:99999');
  }
}

/** Raw values a kind must accept, with the value they must become. */
export function validValue(name: OptionName, row: OptionRow): fc.Arbitrary<{ raw: unknown; check: (options: DaemonOptions) => unknown }> {
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
      return fc.constantFrom<[unknown, string[]]>(['0.0.0.0:443', ['0.0.0.0:443']], ['[::]:443 127.0.0.1:8443', ['[::]:443', '127.0.0.1:8443']], [['[::1]:0', '127.0.0.1:9'], ['[::1]:0', '127.0.0.1:9']]).map(([raw, want]) => ({
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
export function isOptional(row: OptionRow): boolean {
  return !('default' in row) || row.default === undefined;
}

