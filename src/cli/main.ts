/**
 * The command line: parses arguments, calls the library, returns an exit code. Never exits the process itself;
 * `src/cli.ts` does that.
 */
import yargs from 'yargs';
import { DEFAULT_CONTROL_PATH } from '../constants.js';
import { BadValue } from '../config/option-kinds.js';
import { SERVE_OPTIONS } from '../config/serve-options.js';
import { sendCommands } from '../control/client.js';
import { runDaemon } from '../daemon.js';
import { AlpnResponderError } from '../errors.js';
import { createStreamLogger } from '../log.js';
import { VERSION } from '../version.js';
import { readConfigFile } from './config-file.js';
import { envName, readServeOptions, serveYargsOptions } from './options.js';
import { registerDoctorCommand } from './doctor-command.js';
import { validateCommand } from './validate-command.js';

const UNREACHABLE_CODES = new Set(['ERR_CONTROL_UNREACHABLE', 'ERR_CONTROL_TIMEOUT', 'ERR_CONTROL_PROTOCOL']);
/** Errors in what was typed, not in what happened: exit 2 like any usage error (`doctor --listen foo`, a bad --config file). */
const USAGE_CODES = new Set(['ERR_BAD_CONFIG', 'ERR_BAD_LISTEN_ADDRESS']);

/** Exit codes of the CLI: `refused` covers an ERR reply and a daemon that cannot start; `usage` a bad argument, serve option value or config file. */
const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

/** Where the CLI writes; tests capture it. */
export interface CliIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

const defaultIo: CliIo = { stdout: process.stdout, stderr: process.stderr };

async function runClient(io: CliIo, controlPath: string, command: string): Promise<number> {
  const [reply] = await sendCommands(controlPath, [command]);
  if (!reply) return EXIT.unreachable;
  for (const line of reply.lines) io.stdout.write(`${line}\n`);
  if (reply.final.ok) {
    // `list` ends with `OK <count>`: the rows already say it.
    if (reply.final.text !== '' && command !== 'list') io.stdout.write(`${reply.final.text}\n`);
    return EXIT.ok;
  }
  io.stderr.write(`alpn-responder: ERR ${reply.final.shortCode} ${reply.final.message}\n`);
  return EXIT.refused;
}

/**
 * Runs the CLI with arguments (without `node` and the script); resolves with the exit code. Every option also
 * reads `ALPN_RESPONDER_<NAME>` from `env`; other variables with that prefix (the hook's own settings) are ignored
 * rather than rejected as unknown options.
 */
export async function main(argv: readonly string[], io: CliIo = defaultIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let exitCode: number = EXIT.ok;
  const envOr = <T>(name: string, fallback: T): string | T => env[envName(name)] ?? fallback;
  const client = (command: string) => async (args: { control: string }) => {
    exitCode = await runClient(io, args.control, command);
  };
  const parser = yargs([...argv])
    .scriptName('alpn-responder')
    .usage('$0 <command> [options]\n\nTLS-ALPN-01 (RFC 8737) challenge responder for dehydrated.')
    .option('control', {
      type: 'string',
      default: envOr('control', DEFAULT_CONTROL_PATH),
      describe: 'control socket path',
      global: true,
    })
    .command(
      'serve',
      'run the responder daemon',
      (y) => y.options(serveYargsOptions()),
      async (args) => {
        // --control is also global, with a default for the client commands: here only a --control actually given
        // may hide the environment's and the config file's.
        const { control, ...rest } = args as Readonly<Record<string, unknown>>;
        const fromCli = controlGiven(argv) ? { ...rest, control } : rest;
        // Every value is checked, the config file's too, before anything is opened; SIGHUP reads them all again.
        const file = configPathOf(fromCli, env);
        const read = async () => readServeOptions({ argv: fromCli, env, file: file === undefined ? undefined : { path: file, values: await readConfigFile(file) } });
        const options = await read();
        const log = createStreamLogger(io.stderr, options.logLevel);
        exitCode = await runDaemon(options, log, file === undefined ? undefined : read);
      },
    )
    .command(
      'deploy <identifier> <authorization>',
      'serve a challenge: identifier and dehydrated\'s DIGEST (or hex, base64url, token.thumbprint)',
      (y) =>
        y
          .positional('identifier', { type: 'string', demandOption: true })
          .positional('authorization', { type: 'string', demandOption: true })
          .option('ttl', {
            type: 'string',
            default: envOr('ttl', undefined),
            describe: 'lifetime, a duration such as 1h or 90s, or whole seconds (default: the daemon\'s --ttl)',
          }),
      async (args) => {
        const ttl = args.ttl === undefined ? '' : ` ${await ttlSeconds(args.ttl)}`;
        await client(`deploy ${args.identifier} ${args.authorization}${ttl}`)(args);
      },
    )
    .command(
      'clean <identifier> [authorization]',
      'stop serving a challenge (with its authorization: only that deploy)',
      (y) => y.positional('identifier', { type: 'string', demandOption: true }).positional('authorization', { type: 'string' }),
      async (args) => client(`clean ${args.identifier}${args.authorization === undefined ? '' : ` ${args.authorization}`}`)(args),
    )
    .command('list', 'list deployed challenges', (y) => y, client('list'))
    .command('status', 'show the daemon\'s status', (y) => y, client('status'))
    .command(validateCommand(io, env, (code) => (exitCode = code)))
    .demandCommand(1, 'name a command; see --help')
    .strict()
    .version(VERSION)
    .help()
    .wrap(null)
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new UsageError(message);
    });
  registerDoctorCommand(parser, { io, env, setExitCode: (code) => (exitCode = code) });
  try {
    await parser.parseAsync();
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`alpn-responder: ${error.message}\nRun 'alpn-responder --help' for usage.\n`);
      return EXIT.usage;
    }
    // A bad option value is a usage error: one line naming the option, the value and what is allowed.
    if (error instanceof AlpnResponderError && error.code === 'ERR_BAD_OPTION') {
      io.stderr.write(`alpn-responder: ${error.code} ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof AlpnResponderError) {
      io.stderr.write(`alpn-responder: ${error.code}: ${error.message}\n  ${error.remedy}\n`);
      if (USAGE_CODES.has(error.code)) return EXIT.usage;
      return UNREACHABLE_CODES.has(error.code) ? EXIT.unreachable : EXIT.refused;
    }
    throw error;
  }
  return exitCode;
}

class UsageError extends Error {}

/**
 * deploy's --ttl in serve's --ttl syntax (`1h`, `90s`, `3600`), sent as the whole seconds the control protocol
 * takes; a bad one is ERR_BAD_OPTION (exit 2) before anything is sent.
 */
async function ttlSeconds(text: string): Promise<number> {
  try {
    return await SERVE_OPTIONS.ttl.kind.parse(text, { accounts: () => Promise.reject(new Error('not needed')) });
  } catch (error) {
    if (!(error instanceof BadValue)) throw error;
    throw new AlpnResponderError('ERR_BAD_OPTION', `--ttl ${JSON.stringify(text)}: ${error.message}`, { cause: error });
  }
}

/** True when the command line itself names --control (yargs fills in its default otherwise). */
function controlGiven(argv: readonly string[]): boolean {
  return argv.some((arg) => arg === '--control' || arg.startsWith('--control='));
}

/** `--config`, from the command line (the last one) or the environment; empty means none. */
function configPathOf(argv: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv): string | undefined {
  const given: unknown = argv.config ?? env[envName('config')];
  const file = Array.isArray(given) ? (given.at(-1) as unknown) : given;
  return typeof file === 'string' && file !== '' ? file : undefined;
}
