/**
 * The control protocol: one command per line in, one reply line (or, for `list` and `help`, data lines closed by
 * an `OK` line) out. Pure: text in, values out; the socket server and client do the I/O.
 */
import { AlpnResponderError, codeFromProtocol, protocolCode, quoteInput, type ErrorCode } from '../errors.js';
import { MAX_TTL_SECONDS } from '../constants.js';

/** A parsed control command. */
export type Command =
  | { readonly name: 'deploy'; readonly identifier: string; readonly authorization: string; readonly ttlSeconds: number | undefined }
  /** Without `authorization`, every deploy of the name; with it, only the deploy of that digest. */
  | { readonly name: 'clean'; readonly identifier: string; readonly authorization: string | undefined }
  | { readonly name: 'list' }
  | { readonly name: 'status' }
  | { readonly name: 'help' }
  /** ualpn's `auth <ident> <base64url>`, answered with a bare `OK` so uacme's ualpn.sh works unchanged. */
  | { readonly name: 'auth'; readonly identifier: string; readonly authorization: string }
  /** ualpn's `unauth <ident>`. */
  | { readonly name: 'unauth'; readonly identifier: string };

/** Usage of each command, as `help` prints it. */
export const COMMAND_USAGE: Readonly<Record<Command['name'], string>> = {
  deploy: 'deploy <identifier> <authorization> [ttl-seconds]   serve a challenge certificate',
  clean: 'clean <identifier> [authorization]                    stop serving it (with a digest: only that deploy)',
  list: 'list                                                  deployed challenges: identifier sha256 expires served',
  status: 'status                                                version, uptime, listeners, counters',
  help: 'help                                                  this text',
  auth: 'auth <identifier> <base64url-sha256>                  ualpn-compatible deploy',
  unauth: 'unauth <identifier>                                   ualpn-compatible clean',
};

const ARITY: Readonly<Record<Command['name'], readonly [min: number, max: number]>> = {
  deploy: [2, 3],
  clean: [1, 2],
  list: [0, 0],
  status: [0, 0],
  help: [0, 0],
  auth: [2, 2],
  unauth: [1, 1],
};

function isCommandName(word: string): word is Command['name'] {
  return Object.hasOwn(ARITY, word);
}

/** Parses a TTL argument: whole seconds from 1 to {@link MAX_TTL_SECONDS}. */
export function parseTtl(text: string): number {
  const seconds = /^\d{1,7}$/.test(text) ? Number(text) : Number.NaN;
  if (!(seconds >= 1 && seconds <= MAX_TTL_SECONDS)) {
    throw new AlpnResponderError('ERR_BAD_TTL', `ttl ${quoteInput(text)} is not a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`);
  }
  return seconds;
}

/** Parses one command line (without its line ending). Throws {@link AlpnResponderError} on anything else. */
export function parseCommand(line: string): Command {
  const words = line.trim().split(/[ \t]+/).filter((word) => word !== '');
  const [first, ...args] = words;
  if (first === undefined) throw new AlpnResponderError('ERR_UNKNOWN_COMMAND', 'empty line; send `help` for the commands');
  const name = first.toLowerCase();
  if (!isCommandName(name)) {
    throw new AlpnResponderError('ERR_UNKNOWN_COMMAND', `unknown command ${quoteInput(first, 40)}; send \`help\` for the commands`);
  }
  const [min, max] = ARITY[name];
  if (args.length < min || args.length > max) {
    throw new AlpnResponderError('ERR_BAD_ARGUMENTS', `usage: ${COMMAND_USAGE[name].split(/ {2,}/)[0]}`);
  }
  const a0 = args[0] ?? '';
  const a1 = args[1] ?? '';
  switch (name) {
    case 'deploy':
      return { name, identifier: a0, authorization: a1, ttlSeconds: args[2] === undefined ? undefined : parseTtl(args[2]) };
    case 'auth':
      return { name, identifier: a0, authorization: a1 };
    case 'clean':
      return { name, identifier: a0, authorization: args[1] };
    case 'unauth':
      return { name, identifier: a0 };
    default:
      return { name };
  }
}

/** The reply line for an error: `ERR <short-code> <message>`, forced onto one line. */
export function formatErrorReply(code: ErrorCode, message: string): string {
  return `ERR ${protocolCode(code)} ${message.replace(/[\r\n]+/g, ' ')}`;
}

/** A reply's final line, as a client reads it. */
export type FinalReply =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly code: ErrorCode | undefined; readonly shortCode: string; readonly message: string };

/**
 * Reads a line as the end of a reply, or returns undefined for a data line (`list` rows, `help` text). A bare `OK`
 * (ualpn's style) is final too.
 */
export function parseFinalReply(line: string): FinalReply | undefined {
  if (line === 'OK' || line.startsWith('OK ')) return { ok: true, text: line.slice(3) };
  if (line === 'ERR' || line.startsWith('ERR ')) {
    const rest = line.slice(4);
    const space = rest.indexOf(' ');
    const shortCode = space === -1 ? rest : rest.slice(0, space);
    return { ok: false, code: codeFromProtocol(shortCode), shortCode, message: space === -1 ? '' : rest.slice(space + 1) };
  }
  return undefined;
}
