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

/**
 * Reads a JSON config file: one object whose keys are `serve` option names, e.g. `{"listen": ["[::]:443"]}`. Its keys
 * and values are checked by the option reader (options.ts), like the command line's.
 */
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
