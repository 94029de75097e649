/**
 * The command line: parses arguments, calls the library, returns an exit code. Never exits the process itself;
 * `src/cli.ts` does that.
 */
import os from 'node:os';
import yargs from 'yargs';
import {
  CLIENT_HELLO_TIMEOUT_MS,
  DEFAULT_CONTROL_PATH,
  DEFAULT_LISTEN,
  DEFAULT_MAX_CHALLENGES,
  DEFAULT_TTL_SECONDS,
  BACKEND_CONNECT_TIMEOUT_MS,
  DEFAULT_CONTROL_COMMANDS_PER_SECOND,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
  DEFAULT_MAX_CONTROL_CONNECTIONS,
  MAX_CONTROL_LINE,
  HANDSHAKE_TIMEOUT_MS,
  PASSTHROUGH_IDLE_TIMEOUT_MS,
  SHUTDOWN_TIMEOUT_MS,
  MAX_CLIENT_HELLO_BYTES,
} from '../constants.js';
import { sendCommands } from '../control/client.js';
import { runDaemon } from '../daemon.js';
import { AlpnResponderError } from '../errors.js';
import { createStreamLogger, type LogLevel } from '../log.js';
import { VERSION } from '../version.js';
import { applyConfig, givenOnCommandLine, readConfigFile } from './config-file.js';
import { DEFAULT_STORE_PREFIX, DEFAULT_STORE_TIMEOUT_SECONDS, STORE_FALLBACKS } from '../store/store-config.js';
import { envName, MAX_WORKERS, splitList, toDaemonOptions } from './options.js';
import { registerDoctorCommand } from './doctor-command.js';
import { validateCommand } from './validate-command.js';

const UNREACHABLE_CODES = new Set(['ERR_CONTROL_UNREACHABLE', 'ERR_CONTROL_TIMEOUT', 'ERR_CONTROL_PROTOCOL']);

/** Exit codes of the CLI: `refused` covers an ERR reply and a daemon that cannot start. */
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
      (y) =>
        y
          .option('listen', {
            type: 'string',
            array: true,
            default: splitList([envOr('listen', DEFAULT_LISTEN)]),
            describe: 'HOST:PORT to accept TLS on, repeatable ([::]:443 is dual-stack)',
          })
          .option('control-mode', { type: 'string', default: envOr('control-mode', '0660'), describe: 'control socket file mode (octal)' })
          .option('control-group', { type: 'string', default: envOr('control-group', undefined), describe: 'group allowed to use the control socket (name or gid)' })
          .option('ttl', { type: 'string', default: envOr('ttl', String(DEFAULT_TTL_SECONDS)), describe: 'default challenge lifetime, seconds' })
          .option('max-challenges', { type: 'number', default: Number(envOr('max-challenges', DEFAULT_MAX_CHALLENGES)), describe: 'most challenges deployed at once' })
          .option('hello-timeout', { type: 'number', default: Number(envOr('hello-timeout', CLIENT_HELLO_TIMEOUT_MS / 1000)), describe: 'seconds a client may take to send its ClientHello' })
          .option('max-hello-bytes', { type: 'number', default: Number(envOr('max-hello-bytes', MAX_CLIENT_HELLO_BYTES)), describe: 'largest ClientHello read, bytes' })
          .option('handshake-timeout', { type: 'number', default: Number(envOr('handshake-timeout', HANDSHAKE_TIMEOUT_MS / 1000)), describe: 'seconds a challenge handshake may take' })
          .option('backend', {
            type: 'string',
            array: true,
            default: splitList([envOr('backend', '')]),
            describe: 'pass non-acme-tls/1 connections on: HOST:PORT (default), NAME=HOST:PORT or *.DOMAIN=HOST:PORT; repeatable',
          })
          .option('backend-proxy-protocol', {
            choices: ['v1', 'v2'] as const,
            default: envOr('backend-proxy-protocol', undefined) as 'v1' | 'v2' | undefined,
            describe: 'prefix passed-through connections with a PROXY protocol header',
          })
          .option('accept-proxy-protocol', {
            type: 'boolean',
            default: envOr('accept-proxy-protocol', 'false') === 'true',
            describe: 'require a PROXY v1/v2 header on every connection (behind nginx stream / HAProxy)',
          })
          .option('backend-connect-timeout', { type: 'number', default: Number(envOr('backend-connect-timeout', BACKEND_CONNECT_TIMEOUT_MS / 1000)), describe: 'seconds to connect to a backend' })
          .option('shutdown-timeout', { type: 'number', default: Number(envOr('shutdown-timeout', SHUTDOWN_TIMEOUT_MS / 1000)), describe: 'seconds shutdown waits for open connections to finish' })
          .option('idle-timeout', { type: 'number', default: Number(envOr('idle-timeout', PASSTHROUGH_IDLE_TIMEOUT_MS / 1000)), describe: 'seconds a passed-through connection may stay silent' })
          .option('max-connections', { type: 'number', default: Number(envOr('max-connections', DEFAULT_MAX_CONNECTIONS)), describe: 'most TLS-port connections at once; at the cap the oldest still without a ClientHello are closed' })
          .option('max-connections-per-source', { type: 'number', default: Number(envOr('max-connections-per-source', DEFAULT_MAX_CONNECTIONS_PER_SOURCE)), describe: 'most TLS-port connections at once per client IPv4 address or IPv6 /64' })
          .option('max-control-connections', { type: 'number', default: Number(envOr('max-control-connections', DEFAULT_MAX_CONTROL_CONNECTIONS)), describe: 'most control-socket clients at once' })
          .option('control-rate', { type: 'number', default: Number(envOr('control-rate', DEFAULT_CONTROL_COMMANDS_PER_SECOND)), describe: 'control commands per second per connection; faster ones are delayed' })
          .option('max-control-line', { type: 'number', default: Number(envOr('max-control-line', MAX_CONTROL_LINE)), describe: 'longest control command line, bytes; a longer one is refused and its connection closed' })
          .option('state', {
            type: 'string',
            default: envOr('state', undefined),
            describe: 'file that keeps deployed challenges across restarts (the service uses /var/lib/alpn-responder/state.json); default: memory only',
          })
          .option('store', {
            type: 'string',
            default: envOr('store', undefined),
            describe: 'share challenges with other nodes through Redis: redis://[USER:PASSWORD@]HOST:PORT/DB, rediss://…, redis+sentinel://…, redis+cluster://… (docs/cluster.md); not with --state',
          })
          .option('store-prefix', { type: 'string', default: envOr('store-prefix', DEFAULT_STORE_PREFIX), describe: 'prefix of every Redis key and channel, so several fleets can share one Redis' })
          .option('store-fallback', {
            choices: STORE_FALLBACKS,
            default: envOr('store-fallback', 'none'),
            describe: 'Redis unreachable at start: none exits; memory serves what is deployed on this node only (logged loudly)',
          })
          .option('store-timeout', { type: 'number', default: Number(envOr('store-timeout', DEFAULT_STORE_TIMEOUT_SECONDS)), describe: 'seconds to connect to Redis and for each Redis command' })
          .option('watch-dir', {
            type: 'string',
            default: envOr('watch-dir', undefined),
            describe: 'also serve the NAME.crt.pem + NAME.key.pem pairs dehydrated writes to this directory (its ALPNCERTDIR), so no hook is needed; it must exist',
          })
          .option('user', {
            type: 'string',
            default: envOr('user', undefined),
            describe: 'started as root: open the ports and control socket, then become USER[:GROUP] (names or ids) before serving',
          })
          .option('log-level', { choices: ['debug', 'info', 'warn', 'error'] as const, default: envOr('log-level', 'info') as LogLevel, describe: 'least severe event logged' })
          .option('workers', {
            type: 'number',
            // One per CPU, within what --workers accepts (a 96-CPU host must still start).
            default: Number(envOr('workers', Math.min(os.availableParallelism(), MAX_WORKERS))),
            describe: `processes serving the TLS port (default: one per CPU, at most ${MAX_WORKERS}); 1 serves from the main process`,
          })
          .option('config', { type: 'string', default: envOr('config', undefined), describe: 'JSON file of serve options; the command line and environment override it' }),
      async (args) => {
        const file = args.config;
        // The file fills in what neither the command line nor the environment set.
        const explicit = (name: string): boolean => givenOnCommandLine(argv, name) || env[envName(name)] !== undefined;
        const withFile = async () => (file === undefined ? args : applyConfig(args, await readConfigFile(file), file, explicit));
        const merged = await withFile();
        const log = createStreamLogger(io.stderr, merged.logLevel);
        const reload = async () => toDaemonOptions(await withFile());
        exitCode = await runDaemon(await toDaemonOptions(merged), log, file === undefined ? undefined : reload);
      },
    )
    .command(
      'deploy <identifier> <authorization>',
      'serve a challenge: identifier and dehydrated\'s DIGEST (or hex, base64url, token.thumbprint)',
      (y) =>
        y
          .positional('identifier', { type: 'string', demandOption: true })
          .positional('authorization', { type: 'string', demandOption: true })
          .option('ttl', { type: 'string', default: envOr('ttl', undefined), describe: 'lifetime in seconds (default: the daemon\'s --ttl)' }),
      async (args) => {
        const ttl = args.ttl === undefined ? '' : ` ${args.ttl}`;
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
    if (error instanceof AlpnResponderError) {
      io.stderr.write(`alpn-responder: ${error.code}: ${error.message}\n  ${error.remedy}\n`);
      return UNREACHABLE_CODES.has(error.code) ? EXIT.unreachable : EXIT.refused;
    }
    throw error;
  }
  return exitCode;
}

class UsageError extends Error {}
