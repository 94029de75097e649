import { readFile, stat } from 'node:fs/promises';
import { AlpnResponderError } from '../errors.js';
import { isJsonObject } from '../json-value.js';

/** Largest config file read: options only, so a few KiB at most in practice. */
const MAX_CONFIG_BYTES = 1024 * 1024;

/** A parsed config file: option names (as on the command line, without `--`) to values. */
export type ConfigValues = Readonly<Record<string, unknown>>;

function bad(file: string, message: string, remedy: string): AlpnResponderError {
  return new AlpnResponderError('ERR_BAD_CONFIG', `${file}: ${message}`, { remedy });
}

const ONE_OBJECT = 'The file holds one JSON object of serve options by name, e.g. {"listen": ["[::]:443"], "ttl": "1h"} (docs/serve.md).';

/**
 * Reads a JSON config file: one object whose keys are `serve` option names, e.g. `{"listen": ["[::]:443"]}`. Its keys
 * and values are checked by the option reader (options.ts), like the command line's.
 */
export async function readConfigFile(file: string): Promise<ConfigValues> {
  let text: string;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw bad(file, 'is not a regular file', 'Point --config at the JSON file itself, not a directory or device.');
    if (info.size > MAX_CONFIG_BYTES) throw bad(file, `is larger than ${MAX_CONFIG_BYTES} bytes`, `Is it the right file? ${ONE_OBJECT}`);
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof AlpnResponderError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const remedy =
      code === 'ENOENT'
        ? 'No such file: fix the --config path (ALPN_RESPONDER_CONFIG), or create the file.'
        : code === 'EACCES'
          ? 'The user starting the daemon may not read it: fix its owner or mode (e.g. root:root 0644; it holds no secrets unless --store does).'
          : 'Fix the --config path or the file.';
    throw bad(file, `cannot be read (${code ?? String(error)})`, remedy);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw bad(file, `is not valid JSON (${(error as Error).message})`, `Fix the JSON syntax at the place named (\`node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' FILE\` shows it). ${ONE_OBJECT}`);
  }
  if (!isJsonObject(value)) throw bad(file, 'must hold one JSON object of options', ONE_OBJECT);
  return value as ConfigValues;
}
