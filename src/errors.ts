/**
 * Every error the daemon, its control protocol and its CLI can report.
 *
 * Callers match on {@link AlpnResponderError.code}, never on the message. The control protocol sends the code in
 * its short form (`ERR_BAD_IDENTIFIER` → `ERR bad-identifier …`), see {@link protocolCode}. Every code is
 * documented in `docs/errors.md`; `test/errors.test.ts` keeps the two in sync.
 */

/** Stable error codes, with the one-line remedy an operator needs. */
export const ERROR_CODES = {
  ERR_BAD_IDENTIFIER: 'Give a DNS name (IDN as punycode), an IPv4/IPv6 literal or a reverse-DNS name.',
  ERR_WILDCARD_IDENTIFIER: 'Deploy the base name: the CA never validates wildcards over TLS-ALPN-01 (RFC 8737 §3).',
  ERR_BAD_AUTHORIZATION: 'Pass the hook\'s DIGEST argument as it is, 64 hex digits, base64url SHA-256, or token.thumbprint.',
  ERR_BAD_TTL: 'Give the lifetime as whole seconds between 1 and 604800.',
  ERR_TOO_MANY_CHALLENGES: 'Clean finished challenges or raise --max-challenges.',
  ERR_UNKNOWN_COMMAND: 'Send `help` for the list of commands.',
  ERR_BAD_ARGUMENTS: 'Send `help` for each command\'s arguments.',
  ERR_LINE_TOO_LONG: 'Send one command per line, each shorter than the limit.',
  ERR_INTERNAL: 'An unexpected failure: the daemon log has the details; please report it.',
  ERR_CERTIFICATE: 'Building the challenge certificate failed; check the log and report a bug.',
  ERR_CONTROL_IN_USE: 'Another daemon is running on this control socket: stop it or pass another --control path.',
  ERR_CONTROL_NOT_SOCKET: 'The --control path exists and is not a socket: remove it or choose another path.',
  ERR_CONTROL_SOCKET_REPLACED: 'The control socket was replaced right after it was bound: make its directory writable by root only (not by the --user account or a group), then start again.',
  ERR_CONTROL_PATH_TOO_LONG: 'Unix socket paths are limited to 107 bytes: choose a shorter --control path.',
  ERR_CONTROL_UNREACHABLE: 'Start the daemon (`alpn-responder serve`) or point --control / ALPN_RESPONDER_CONTROL at its socket.',
  ERR_CONTROL_PROTOCOL: 'The control socket answered something unexpected: is it really alpn-responder?',
  ERR_CONTROL_TIMEOUT: 'The daemon did not answer in time: check that it is running and not overloaded.',
  ERR_BAD_LISTEN_ADDRESS: 'Write listen addresses as HOST:PORT, with IPv6 in brackets: 0.0.0.0:443, [::]:443.',
  ERR_LISTEN: 'The port could not be opened: see `ss -ltnp` for its owner, or run as root / with CAP_NET_BIND_SERVICE.',
  ERR_BAD_BACKEND: 'Write backends as HOST:PORT for the default, or NAME=HOST:PORT (NAME may be *.domain) per SNI name, each name once.',
  ERR_BAD_OPTION: 'Give the named serve option a value of the kind the message states (docs/serve.md lists each one\'s kind and range).',
  ERR_BAD_CONFIG: 'Fix the --config file as the message says: one JSON object whose keys are `serve` option names, values of the option\'s type.',
  ERR_BAD_GROUP: 'Name an existing group (see /etc/group) or give a numeric gid.',
  ERR_BAD_MODE: 'Give the control socket mode in octal, one that gives others no access, such as 0660 or 0600.',
  ERR_BAD_LISTEN_FDS: 'LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are malformed: start the daemon from a systemd .socket unit or systemd-socket-activate, or unset them.',
  ERR_SYSTEMD_SOCKET: 'Fix the .socket unit: TCP ListenStream= for TLS, one Unix ListenStream= named FileDescriptorName=control for the control socket.',
  ERR_BAD_USER: 'Give --user as USER or USER:GROUP with an existing user (see /etc/passwd), or numeric ids as UID:GID.',
  ERR_USER_NEEDS_ROOT: 'Start the daemon as root to use --user, or leave --user out (under systemd use User= or DynamicUser=).',
  ERR_WORKER: 'A worker process (--workers) failed to start or stopped answering: the daemon log says why; `--workers 1` serves from one process.',
  ERR_PRIVILEGE_DROP: 'The daemon could not become the --user account: it needs CAP_SETUID and CAP_SETGID (root without them, e.g. in a restricted container, cannot).',
  ERR_NAME_NOT_RESOLVED: 'Create an A and/or AAAA record for the name, or pass an IP address.',
  ERR_BAD_RESOLVER: 'Give --resolver as IP:PORT of a DNS server, IPv6 in brackets: 127.0.0.1:8053, [::1]:53.',
  ERR_BAD_PORT: 'Give a TCP port between 1 and 65535.',
  ERR_BAD_TIMEOUT: 'Give the timeout as a positive number of seconds, at most 600.',
  ERR_WATCH_DIR: 'Create the --watch-dir directory (dehydrated\'s ALPNCERTDIR) before starting, readable by the daemon.',
  ERR_STATE_WRITE_FAILED: 'The --state file could not be written: make its directory exist and be writable by the daemon, with free space; then deploy again.',
  ERR_STATE_CORRUPT: 'The --state file was unusable: it was moved aside to FILE.corrupt-<time> and the daemon started empty; redeploy pending challenges.',
  ERR_STATE_SYMLINK: 'The --state path is a symbolic link, which the daemon never follows: remove the link, or point --state at the real file.',
  ERR_STATE_UNREADABLE: 'The --state file exists but the user the daemon serves as (--user) cannot open it: fix its owner and mode (0600, owned by that user).',
  ERR_BAD_STORE: 'Give --store as redis://[USER:PASSWORD@]HOST:PORT/DB (rediss://, redis+sentinel://, redis+cluster://), without --state; see docs/cluster.md.',
  ERR_STORE_UNREACHABLE: 'Start Redis or fix the --store address (and TLS trust for rediss://), or pass --store-fallback memory to start without it.',
  ERR_STORE_UNAVAILABLE: 'The daemon lost Redis and keeps serving what it holds; it reconnects by itself: retry once Redis is back.',
  ERR_STORE_DENIED: 'Fix the credentials in --store, or grant the Redis user the ACL in docs/cluster.md.',
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class for every error the project raises on purpose. */
export class AlpnResponderError extends Error {
  /** Stable code: match on this, not on the message. */
  readonly code: ErrorCode;

  /** A remedy that fits this very failure better than the code's usual one (see {@link remedy}). */
  readonly #remedy: string | undefined;

  /** `options.remedy` replaces the code's usual remedy where the cause is known (EADDRNOTAVAIL vs EADDRINUSE). */
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; remedy?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AlpnResponderError';
    this.code = code;
    this.#remedy = options?.remedy;
  }

  /** What the operator should do about it. */
  get remedy(): string {
    return this.#remedy ?? ERROR_CODES[this.code];
  }
}

/** `ERR_BAD_IDENTIFIER` → `bad-identifier`: the form used on the control socket. */
export function protocolCode(code: ErrorCode): string {
  return code.slice('ERR_'.length).toLowerCase().replaceAll('_', '-');
}

/** `bad-identifier` → `ERR_BAD_IDENTIFIER`, or undefined when the short form names no known code. */
export function codeFromProtocol(short: string): ErrorCode | undefined {
  const code = `ERR_${short.toUpperCase().replaceAll('-', '_')}`;
  return Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : undefined;
}

/** Shows untrusted input in a message: JSON-quoted, so it cannot forge lines, and cut to a readable length. */
export function quoteInput(text: string, max = 80): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/** True when `error` is one of ours with the given code. */
export function hasCode(error: unknown, code: ErrorCode): error is AlpnResponderError {
  return error instanceof AlpnResponderError && error.code === code;
}
