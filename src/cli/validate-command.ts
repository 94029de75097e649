/**
 * `alpn-responder validate NAME`: the CA's TLS-ALPN-01 check run from here, printed for a person (or as JSON),
 * with exit code 0 only when Let's Encrypt would accept the challenge.
 */
import type { CommandModule } from 'yargs';
import { formatListenAddress } from '../net/listen-address.js';
import { BadValue, duration } from '../config/option-kinds.js';
import { AlpnResponderError } from '../errors.js';
import {
  DEFAULT_VALIDATE_PORT,
  DEFAULT_VALIDATE_TIMEOUT_MS,
  MAX_ADDRESSES_PER_FAMILY,
  validate,
  type ValidationAttempt,
  type ValidationResult,
} from '../diagnostics/validate.js';
import type { CliIo } from './main.js';
import { envName } from './options.js';

/** Exit codes of `validate` (the CLI's usual meanings: 1 is "refused", 2 "usage"). */
export const VALIDATE_EXIT = { accepted: 0, rejected: 1, usage: 2 } as const;

/** `validate`'s arguments as yargs hands them over. */
export interface ValidateArgs {
  readonly name: string;
  readonly host: string | undefined;
  readonly port: number;
  readonly expect: string | undefined;
  readonly resolver: string | undefined;
  readonly json: boolean;
  /** A duration as serve's options take it: `5s`, `500ms`, or a bare number of seconds. */
  readonly timeout: string;
}

/** validate's --timeout: the duration kind of serve's options, within what `validate()` takes. */
const VALIDATE_TIMEOUT = duration({ min: 1, max: 600_000 });
/** A duration needs no account files. */
const NO_ACCOUNTS = { accounts: () => Promise.reject(new Error('not needed')) };

const OUTCOME_TEXT: Readonly<Record<ValidationAttempt['outcome'], string>> = {
  accepted: 'accepted',
  'connect-failed': 'connection failed',
  'handshake-failed': 'TLS handshake failed',
  rejected: 'answered, rejected',
};

/**
 * The `validate` command for the CLI's yargs instance: `.command(validateCommand(io, env, setExit))`. Flags also
 * read `ALPN_RESPONDER_<FLAG>` from `env`; `setExit` receives the exit code.
 */
export function validateCommand(
  io: CliIo,
  env: NodeJS.ProcessEnv,
  setExit: (code: number) => void,
): CommandModule<object, ValidateArgs> {
  const fromEnv = (flag: string): string | undefined => env[envName(flag)];
  return {
    command: 'validate <name>',
    describe: "check a name the way Let's Encrypt checks TLS-ALPN-01, and explain a failure",
    builder: (y) =>
      y
        .positional('name', { type: 'string', demandOption: true, describe: 'DNS name, IP address or reverse-DNS name' })
        .option('host', { type: 'string', default: fromEnv('host'), describe: 'connect to this IP or host name instead of resolving NAME' })
        .option('port', { type: 'number', default: Number(fromEnv('port') ?? DEFAULT_VALIDATE_PORT), describe: 'TCP port (the CA always uses 443)' })
        .option('expect', { type: 'string', default: fromEnv('expect'), describe: "also compare the key authorization: dehydrated's DIGEST, hex, base64url or token.thumbprint" })
        .option('resolver', { type: 'string', default: fromEnv('resolver'), describe: 'IP:PORT of a DNS server to ask instead of the system resolver (/etc/hosts), e.g. a test DNS server' })
        .option('json', { type: 'boolean', default: fromEnv('json') === 'true', describe: 'print the result as JSON' })
        .option('timeout', {
          type: 'string',
          default: fromEnv('timeout') ?? `${DEFAULT_VALIDATE_TIMEOUT_MS / 1000}s`,
          describe: 'per connection attempt: a duration such as 5s or 500ms (a bare number is seconds)',
        })
        // The global --control is for the commands that talk to the daemon; validate does not.
        .hide('control'),
    handler: async (args) => {
      let timeoutMs: number;
      try {
        timeoutMs = await VALIDATE_TIMEOUT.parse(args.timeout, NO_ACCOUNTS);
      } catch (error) {
        if (!(error instanceof BadValue)) throw error;
        io.stderr.write(`alpn-responder: ERR_BAD_OPTION --timeout ${JSON.stringify(args.timeout)}: ${error.message}\n`);
        setExit(VALIDATE_EXIT.usage);
        return;
      }
      let result: ValidationResult;
      try {
        result = await validate({
          name: args.name,
          host: args.host,
          port: args.port,
          expect: args.expect,
          resolver: args.resolver,
          timeoutMs,
        });
      } catch (error) {
        if (!(error instanceof AlpnResponderError)) throw error;
        io.stderr.write(`alpn-responder: ${error.code}: ${error.message}\n  ${error.remedy}\n`);
        setExit(VALIDATE_EXIT.usage);
        return;
      }
      io.stdout.write(args.json ? `${JSON.stringify(result, null, 2)}\n` : formatValidation(result, args.expect !== undefined));
      setExit(result.ok ? VALIDATE_EXIT.accepted : VALIDATE_EXIT.rejected);
    },
  };
}

/** The text report: a ✓ or ✗ line, the attempts, what was served, the CA's words and the likely cause. */
function formatValidation(result: ValidationResult, digestCompared: boolean): string {
  const lines: string[] = [];
  const sni = result.sni === result.identifier ? '' : ` (SNI ${result.sni})`;
  const final = result.attempts[result.attempts.length - 1];
  if (result.ok && final !== undefined) {
    const details = [`IPv${final.family}`, result.tlsVersion, result.alpn].filter((part) => typeof part === 'string').join(', ');
    lines.push(`✓ ${result.identifier}${sni}: the CA would accept the certificate served by ${hostPort(final)} (${details})`);
    if (!digestCompared) lines.push('  the key authorization was not compared: pass --expect to check it too');
    if (result.hint !== undefined) lines.push(`note: ${result.hint}`);
    lines.push(...uncheckedLines(result));
    return `${lines.join('\n')}\n`;
  }
  lines.push(`✗ ${result.identifier}${sni}: the CA would reject this challenge`);
  for (const attempt of result.attempts) {
    lines.push(`  ${hostPort(attempt)} (IPv${attempt.family}): ${OUTCOME_TEXT[attempt.outcome]}`);
  }
  const served = result.certificate;
  if (served !== undefined) {
    const issuer = served.selfSigned ? 'self-signed' : `issued by ${served.issuer}`;
    lines.push(`  served: ${served.subject}; ${issuer}; SAN ${served.san.join(', ') || 'none'}; sha256 ${served.sha256}`);
  }
  if (result.problem !== undefined) lines.push(`the CA would say: ${result.problem}`);
  if (result.hint !== undefined) lines.push(`likely cause: ${result.hint}`);
  lines.push(...uncheckedLines(result));
  return `${lines.join('\n')}\n`;
}

/** Says how many addresses were not dialled (beyond the first MAX_ADDRESSES_PER_FAMILY of a family). */
function uncheckedLines(result: ValidationResult): string[] {
  const { unchecked } = result;
  if (unchecked === undefined) return [];
  const parts = [unchecked.v6 > 0 ? `${unchecked.v6} IPv6` : '', unchecked.v4 > 0 ? `${unchecked.v4} IPv4` : ''].filter((part) => part !== '');
  return [`note: not checked: ${parts.join(' and ')} address(es) beyond the first ${MAX_ADDRESSES_PER_FAMILY} of each family`];
}

function hostPort(attempt: ValidationAttempt): string {
  return formatListenAddress({ host: attempt.address, port: attempt.port });
}
