/**
 * Reads the `serve` options from their three sources — the command line, the environment, the config file, in that
 * order of precedence, then the table's default — and checks every value with its kind from the option table
 * (config/serve-options.ts). The same reader runs at start and on each SIGHUP.
 */
import type { Options as YargsOption } from 'yargs';
import { readAccountFile } from '../account-file.js';
import { BadValue, type ParseContext } from '../config/option-kinds.js';
import { envName, optionRows, SERVE_OPTIONS, type DaemonOptions, type OptionName, type OptionValues } from '../config/serve-options.js';
import { AlpnResponderError, quoteInput } from '../errors.js';
import { quoteValue } from '../json-value.js';
import { parseStoreConfig } from '../store/store-config.js';
import type { ConfigValues } from './config-file.js';

export { envName } from '../config/serve-options.js';

/** Where the values come from. */
export interface OptionSources {
  /** yargs' parsed arguments, by option name; an option not given is absent. */
  readonly argv: Readonly<Record<string, unknown>>;
  readonly env: NodeJS.ProcessEnv;
  /** The `--config` file, read. */
  readonly file?: { readonly path: string; readonly values: ConfigValues } | undefined;
  /** /etc/passwd and /etc/group, for tests; by default the system's. */
  readonly accountFiles?: { readonly passwd: string; readonly group: string } | undefined;
}

/**
 * yargs definitions of the `serve` options, without yargs defaults: the reader must see which options the command
 * line set. `control` is also a global option (with a default, for the client commands); serve's own replaces it.
 */
export function serveYargsOptions(): Record<string, YargsOption> {
  const options: Record<string, YargsOption> = {};
  for (const [name, spec] of optionRows()) {
    const shown = spec.shownDefault ?? (typeof spec.default === 'string' ? spec.default : undefined);
    options[name] = {
      // A flag is left untyped: yargs' boolean type would turn `--accept-proxy-protocol=yes` into false unseen.
      ...(spec.arg === '' ? {} : { type: 'string' as const }),
      ...(spec.list ? { array: true } : {}),
      describe: spec.help,
      ...(shown === undefined ? {} : { defaultDescription: shown }),
    };
  }
  return options;
}

/**
 * Splits list flags given once with commas or spaces, as `ALPN_RESPONDER_LISTEN='0.0.0.0:443 [::]:443'` arrives
 * from the environment.
 */
export function splitList(values: readonly string[]): string[] {
  return values.flatMap((value) => value.split(/[\s,]+/)).filter((value) => value !== '');
}

type Source = { readonly raw: unknown; readonly where: string };

/** The first source that sets option `name`, or its default. */
function sourceOf(name: OptionName, sources: OptionSources): Source | undefined {
  const spec = SERVE_OPTIONS[name];
  let cli = sources.argv[name];
  // An option given twice on the command line: the last one wins, as in most tools.
  if (Array.isArray(cli) && !('list' in spec && spec.list)) cli = cli.at(-1);
  if (cli !== undefined) return { raw: cli, where: '' };
  const fromEnv = sources.env[envName(name)];
  if (fromEnv !== undefined) return { raw: fromEnv, where: ` (from ${envName(name)})` };
  const file = sources.file;
  if (file !== undefined && Object.hasOwn(file.values, name)) return { raw: file.values[name], where: ` (from ${file.path})` };
  const fallback: unknown = 'default' in spec ? spec.default : undefined;
  if (fallback === undefined) return undefined;
  return { raw: typeof fallback === 'function' ? (fallback as () => string)() : fallback, where: ' (the default)' };
}

function shown(raw: unknown): string {
  return typeof raw === 'string' ? quoteInput(raw, 60) : quoteValue(raw, 60);
}

/** Refuses config-file keys that name no `serve` option (`config` itself included). */
function checkKeys(file: NonNullable<OptionSources['file']>): void {
  for (const key of Object.keys(file.values)) {
    if (key === 'config' || !Object.hasOwn(SERVE_OPTIONS, key)) {
      throw new AlpnResponderError('ERR_BAD_CONFIG', `${file.path}: unknown option ${quoteInput(key, 40)}; see \`alpn-responder serve --help\``, {
        remedy: 'Fix or remove the named key: keys are `serve` option names without the dashes (docs/serve.md), values of the option\'s kind.',
      });
    }
  }
}

/**
 * Every option checked, then the daemon's options. Throws ERR_BAD_OPTION naming the option, the value (and where it
 * came from, if not the command line) and what is allowed; ERR_BAD_CONFIG for an unknown config-file key;
 * ERR_BAD_STORE for `--store` with `--state`.
 */
export async function readServeOptions(sources: OptionSources): Promise<DaemonOptions> {
  if (sources.file !== undefined) checkKeys(sources.file);
  let accounts: Promise<{ passwd: string; group: string }> | undefined;
  const context: ParseContext = {
    accounts: () =>
      (accounts ??= sources.accountFiles
        ? Promise.resolve(sources.accountFiles)
        : Promise.all([readAccountFile('/etc/passwd'), readAccountFile('/etc/group')]).then(([passwd, group]) => ({ passwd, group }))),
  };
  const values: Record<string, unknown> = {};
  const check = async (name: OptionName, source: Source | undefined): Promise<unknown> => {
    try {
      return await SERVE_OPTIONS[name].kind.parse(source?.raw, context);
    } catch (error) {
      if (!(error instanceof BadValue)) throw error;
      const value = error.item !== undefined ? quoteInput(error.item, 60) : source === undefined ? 'nothing' : shown(source.raw);
      throw new AlpnResponderError('ERR_BAD_OPTION', `--${name} ${value}${source?.where ?? ''}: ${error.message}`, { cause: error });
    }
  };
  for (const [name, spec] of optionRows()) {
    const source = sourceOf(name, sources);
    values[spec.key] = await check(name, source);
    // An environment value the command line overrides is still checked, as a file value is: a bad setting is
    // refused wherever it sits, not only while nothing overrides it.
    const fromEnv = sources.env[envName(name)];
    if (fromEnv !== undefined && source?.raw !== fromEnv) await check(name, { raw: fromEnv, where: ` (from ${envName(name)})` });
    // A file value the command line or the environment overrides is still checked: a bad file is refused as a whole.
    const file = sources.file;
    if (file !== undefined && Object.hasOwn(file.values, name) && source?.raw !== file.values[name]) {
      await check(name, { raw: file.values[name], where: ` (from ${file.path})` });
    }
  }
  const { storeUrl, storePrefix, storeFallback, storeTimeoutMs, configPath: _config, ...daemon } = values as unknown as OptionValues;
  const store = parseStoreConfig({ store: storeUrl, storePrefix, storeFallback, storeTimeout: storeTimeoutMs / 1000, state: daemon.statePath });
  return { ...daemon, store };
}
