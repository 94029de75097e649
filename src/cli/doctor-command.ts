/**
 * `alpn-responder doctor`: prints the checklist (or, with --explain, what a CA's error means) and sets the exit
 * code: 0 when nothing would make a validation fail, 1 otherwise.
 */
import type { Argv } from 'yargs';
import { DEFAULT_CONTROL_PATH } from '../constants.js';
import { explainCaResponse } from '../diagnostics/ca-hint.js';
import { checklistJson, formatChecklist, hasFailure } from '../diagnostics/checklist.js';
import { runDoctor } from '../diagnostics/doctor.js';
import { AlpnResponderError } from '../errors.js';
import { parseListenAddress } from '../net/listen-address.js';
import type { CliIo } from './main.js';
import { envName, splitList } from './options.js';

/** What the command needs from `main()`. */
export interface DoctorCommandContext {
  readonly io: CliIo;
  readonly env: NodeJS.ProcessEnv;
  /** Receives the exit code: 0 healthy (warnings allowed), 1 when a check failed. */
  setExitCode(code: number): void;
}

/** `--ca-port`: the port the CA connects to; anything but a TCP port is a usage error (exit 2). */
function caPortOf(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new AlpnResponderError('ERR_BAD_OPTION', `--ca-port ${JSON.stringify(text)}: a TCP port from 1 to 65535 (443 for every public CA)`);
  }
  return port;
}

function explain(io: CliIo, text: string, json: boolean): void {
  const explanation = explainCaResponse(text);
  if (json) {
    io.stdout.write(`${JSON.stringify(explanation, null, 2)}\n`);
    return;
  }
  io.stdout.write(`CA: ${explanation.detail}${explanation.type === undefined ? '' : ` (${explanation.type})`}\n`);
  for (const hint of explanation.hints) io.stdout.write(`hint: ${hint}\n`);
}

/** Adds the `doctor` command to the CLI's parser (which defines the global --control). */
export function registerDoctorCommand<T extends { control: string }>(parser: Argv<T>, context: DoctorCommandContext): Argv<T> {
  const envOr = <V>(name: string, fallback: V): string | V => context.env[envName(name)] ?? fallback;
  const listenFromEnv = envOr('listen', undefined);
  return parser.command(
    'doctor',
    'check everything a TLS-ALPN-01 validation needs, before the CA does (exit 1 if something would fail)',
    (y) =>
      y
        .option('listen', {
          type: 'string',
          array: true,
          // No default at all without the variable: yargs turns an undefined array default into [undefined].
          ...(listenFromEnv === undefined ? {} : { default: splitList([listenFromEnv]) }),
          describe: 'HOST:PORT to examine besides the daemon\'s own listeners, repeatable (default: the daemon\'s; [::]:443 when it does not answer)',
        })
        .option('dehydrated-config', {
          type: 'string',
          default: envOr('dehydrated-config', undefined),
          describe: 'dehydrated\'s config file (default: /etc/dehydrated/config, /usr/local/etc/dehydrated/config, ./config)',
        })
        .option('backend', {
          type: 'string',
          array: true,
          ...(envOr('backend', undefined) === undefined ? {} : { default: splitList([envOr('backend', '')]) }),
          describe: 'the daemon\'s --backend values, to check each is reachable and speaks TLS, repeatable',
        })
        .option('backend-proxy-protocol', {
          choices: ['v1', 'v2'] as const,
          default: envOr('backend-proxy-protocol', undefined) as 'v1' | 'v2' | undefined,
          describe: 'the daemon\'s --backend-proxy-protocol: the backends must take a PROXY header first',
        })
        .option('state', {
          type: 'string',
          default: envOr('state', undefined),
          describe: 'the daemon\'s --state file: check that its directory is writable by the daemon\'s --user',
        })
        .option('user', {
          type: 'string',
          default: envOr('user', undefined),
          describe: 'the daemon\'s --user, for the --state check (default: the user running doctor)',
        })
        .option('ca-port', {
          type: 'string',
          default: envOr('ca-port', '443'),
          describe: 'the port the CA validates on: 443 for every public CA (RFC 8737); a test CA\'s own, e.g. pebble\'s tlsPort',
        })
        .option('quick', {
          type: 'boolean',
          default: envOr('quick', 'false') === 'true',
          describe: 'control socket and port owners only, a few seconds at most (the hook\'s startup_hook)',
        })
        .option('explain', {
          type: 'string',
          default: envOr('explain', undefined),
          describe: 'explain a CA error instead: its detail text, or dehydrated\'s invalid_challenge RESPONSE',
        })
        .option('json', { type: 'boolean', default: envOr('json', 'false') === 'true', describe: 'print JSON' }),
    async (args) => {
      if (args.explain !== undefined) {
        explain(context.io, args.explain, args.json);
        context.setExitCode(0);
        return;
      }
      const listen = args.listen === undefined ? undefined : splitList(args.listen).map(parseListenAddress);
      const checks = await runDoctor({
        controlPath: args.control,
        controlPathIsDefault: args.control === DEFAULT_CONTROL_PATH,
        quick: args.quick,
        caPort: caPortOf(args.caPort),
        ...(listen === undefined ? {} : { listen }),
        ...(args.dehydratedConfig === undefined ? {} : { dehydratedConfig: args.dehydratedConfig }),
        ...(args.state === undefined ? {} : { state: args.state }),
        ...(args.backend === undefined ? {} : { backends: splitList(args.backend) }),
        ...(args.backendProxyProtocol === undefined ? {} : { backendProxyProtocol: args.backendProxyProtocol }),
        ...(args.user === undefined ? {} : { user: args.user }),
      });
      context.io.stdout.write(args.json ? checklistJson(checks) : formatChecklist(checks));
      context.setExitCode(hasFailure(checks) ? 1 : 0);
    },
  );
}
