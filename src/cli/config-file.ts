import { readFile, stat } from 'node:fs/promises';
import { AlpnResponderError } from '../errors.js';
import { isJsonObject } from '../json-value.js';

/** Largest config file read: options only, so a few KiB at most in practice. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/** A parsed config file: option names (as on the command line, without `--`) to values. */
export type ConfigValues = Readonly<Record<string, unknown>>;

function bad(file: string, message: string): AlpnResponderError {
  return new AlpnResponderError('ERR_BAD_CONFIG', `${file}: ${message}`);
}

/** Reads a JSON config file: one object whose keys are `serve` option names, e.g. `{"listen": ["[::]:443"]}`. */
export async function readConfigFile(file: string): Promise<ConfigValues> {
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw bad(file, 'is not a regular file');
    if (info.size > MAX_CONFIG_BYTES) throw bad(file, `is larger than ${MAX_CONFIG_BYTES} bytes`);
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof AlpnResponderError) throw error;
    throw bad(file, `cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw bad(file, `is not valid JSON (${(error as Error).message})`);
  }
  if (!isJsonObject(value)) throw bad(file, 'must hold one JSON object of options');
  return value as ConfigValues;
}

/** `backend-proxy-protocol` → `backendProxyProtocol`, the key yargs gives handlers. */
function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** True when the command line sets option `name` itself (`--name`, `--name=…`, `--no-name`). */
export function givenOnCommandLine(argv: readonly string[], name: string): boolean {
  return argv.some((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`) || arg === `--no-${name}`);
}

function sameKind(expected: unknown, value: unknown): boolean {
  if (Array.isArray(expected)) return Array.isArray(value) && value.every((item) => typeof item === 'string');
  // An option with no default (undefined) takes a string, as on the command line.
  if (expected === undefined) return typeof value === 'string';
  return typeof value === typeof expected;
}

/**
 * Lays a config file under the parsed arguments: a file value is used only where neither the command line nor the
 * environment set that option (`explicit`). Every key must name an option of this command, with a value of the
 * option's type; the first that does not is reported by name.
 */
export function applyConfig<T extends Record<string, unknown>>(
  args: T,
  config: ConfigValues,
  file: string,
  explicit: (name: string) => boolean,
): T {
  const merged: Record<string, unknown> = { ...args };
  for (const [name, value] of Object.entries(config)) {
    const key = camel(name);
    if (/[^a-z0-9-]/.test(name) || name === 'config' || !Object.hasOwn(args, name) || !Object.hasOwn(args, key)) {
      throw bad(file, `unknown option ${JSON.stringify(name)}; see \`alpn-responder serve --help\``);
    }
    if (!sameKind(args[key], value)) {
      const kind = Array.isArray(args[key]) ? 'an array of strings' : args[key] === undefined ? 'a string' : `a ${typeof args[key]}`;
      throw bad(file, `option ${JSON.stringify(name)} must be ${kind}`);
    }
    if (explicit(name)) continue;
    merged[name] = value;
    merged[key] = value;
  }
  return merged as T;
}
