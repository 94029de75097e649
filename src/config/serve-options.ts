/**
 * Every `serve` option, declared once: its kind of value and range, default, environment variable, config-file key,
 * whether SIGHUP may change it, and its documentation. The yargs definitions, the reader of the command line, the
 * environment and the config file, the daemon's typed options, the list of restart-only options and the options
 * table of docs/serve.md (`npm run docs:options`) all come from {@link SERVE_OPTIONS}.
 *
 * A new option is one more row: a key of the daemon's options, a kind from option-kinds.ts, a default, `reload`,
 * and the two doc lines.
 */
import os from 'node:os';
import path from 'node:path';
import {
  DEFAULT_CONTROL_PATH,
  DEFAULT_LISTEN,
  DEFAULT_MAX_CHALLENGES,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_SOURCE,
  DEFAULT_HANDSHAKE_RATE,
  DEFAULT_HANDSHAKE_BURST,
  DEFAULT_MAX_CONTROL_CONNECTIONS,
  DEFAULT_CONTROL_COMMANDS_PER_SECOND,
  MAX_CLIENT_HELLO_BYTES,
  MAX_CONTROL_LINE,
  MAX_TTL_SECONDS,
} from '../constants.js';
import { groupId, parseMode } from '../control/group.js';
import type { LogLevel } from '../log.js';
import { parseBackends, type BackendTable } from '../net/backends.js';
import { parseListenIp, type ListenAddress } from '../net/listen-address.js';
import { resolveRunAs, type RunAs } from '../privilege/run-as.js';
import { parseRedisTarget } from '../store/redis-target.js';
import { DEFAULT_STORE_PREFIX, DEFAULT_STORE_TIMEOUT_SECONDS, STORE_FALLBACKS, type SharedStoreConfig, type StoreFallback } from '../store/store-config.js';
import { BadValue, countOrAuto, duration, explained, filePath, flag, listItems, oneOf, scalarText, text, wholeNumber, type Kind } from './option-kinds.js';

/** One `serve` option. */
export interface OptionRow<K extends string = string, T = unknown> {
  /** The field of the daemon's options it fills. */
  readonly key: K;
  readonly kind: Kind<T>;
  /** Placeholder after the option in --help and the docs (`DURATION`); empty for a flag. */
  readonly arg: string;
  /** Repeatable on the command line; a JSON array (or one string of items) elsewhere. */
  readonly list?: boolean;
  /** The value used when no source sets it, as an operator would write it; absent: the option is off. */
  readonly default?: string | (() => string);
  /** The default as docs/serve.md and --help show it, where {@link default} alone would mislead. */
  readonly shownDefault?: string;
  /** True when SIGHUP (re-reading `--config`) applies a change; false when it takes a restart. */
  readonly reload: boolean;
  /** One line for `--help`. */
  readonly help: string;
  /** The Meaning cell of docs/serve.md (Markdown). */
  readonly doc: string;
}

function row<const K extends string, T>(spec: OptionRow<K, T>): OptionRow<K, T> {
  return spec;
}

/** Not set: absent, or an empty string (an empty `ALPN_RESPONDER_STATE=` means memory only). */
function optional<T>(kind: Kind<T>): Kind<T | undefined> {
  return {
    info: kind.info,
    allowed: kind.allowed,
    parse: (raw, context) => (raw === undefined || raw === '' || (Array.isArray(raw) && raw.length === 0) ? undefined : kind.parse(raw, context)),
  };
}

/** An absolute path: log lines and moved-aside file names stay unambiguous whatever the working directory. */
const absolutePath: Kind<string> = { ...filePath, parse: async (raw, context) => path.resolve(await filePath.parse(raw, context)) };

const listenAddresses: Kind<ListenAddress[]> = {
  info: { name: 'address' },
  allowed: 'IP:PORT, IPv6 in brackets, such as 0.0.0.0:443 or [::]:443',
  parse(raw) {
    const items = listItems(raw, this.allowed);
    if (items.length === 0) throw new BadValue(this.allowed, 'no address given');
    return items.map((item) => explained(this.allowed, () => parseListenIp(item), item));
  },
};

const backends: Kind<BackendTable> = {
  info: { name: 'backend' },
  allowed: 'HOST:PORT, NAME=HOST:PORT or *.DOMAIN=HOST:PORT, each name once',
  parse(raw) {
    return explained(this.allowed, () => parseBackends(raw === undefined || raw === '' ? [] : listItems(raw, this.allowed)));
  },
};

const controlGroup: Kind<number> = {
  info: { name: 'group' },
  allowed: 'a group in /etc/group or a numeric gid',
  async parse(raw, context) {
    const group = scalarText(raw, this.allowed);
    const accounts = await context.accounts();
    return explained(this.allowed, () => groupId(group, accounts.group));
  },
};

const runAs: Kind<RunAs> = {
  info: { name: 'user' },
  allowed: 'USER or USER:GROUP of existing accounts (/etc/passwd, /etc/group), or UID:GID',
  async parse(raw, context) {
    const spec = scalarText(raw, this.allowed);
    const accounts = await context.accounts();
    return explained(this.allowed, () => resolveRunAs(spec, accounts));
  },
};

const storeUrl: Kind<string> = {
  info: { name: 'url' },
  allowed: 'redis://[USER:PASSWORD@]HOST:PORT/DB, rediss://…, redis+sentinel://… or redis+cluster://…',
  parse(raw) {
    const url = scalarText(raw, this.allowed);
    explained(this.allowed, () => parseRedisTarget(url));
    return url;
  },
};

const mode: Kind<number> = {
  info: { name: 'mode' },
  allowed: 'an octal file mode that gives others no access, such as 0660 or 0600',
  parse(raw) {
    // A JSON number such as 660 is read as the octal digits it shows.
    const value = scalarText(raw, this.allowed);
    return explained(this.allowed, () => parseMode(value));
  },
};

/** A duration in whole seconds, as deploys and the store count the TTL. */
function inSeconds(kind: Kind<number>): Kind<number> {
  return { ...kind, parse: async (raw, context) => (await kind.parse(raw, context)) / 1000 };
}

/** Most `--workers`: far beyond any core count this daemon needs, and a bound on processes a typo can fork. */
export const MAX_WORKERS = 64;

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** The `serve` options by name (as on the command line, without `--`; also the config-file key). */
export const SERVE_OPTIONS = {
  listen: row({
    key: 'listen',
    kind: listenAddresses,
    arg: 'IP:PORT',
    list: true,
    default: DEFAULT_LISTEN,
    reload: false,
    help: 'IP:PORT to accept TLS on, repeatable ([::]:443 is dual-stack)',
    doc: 'where to accept TLS; repeatable. An IP address of this host, not a name (not even `localhost`). `[::]` is dual-stack (IPv4 too). IPv6 in brackets.',
  }),
  control: row({
    key: 'controlPath',
    kind: filePath,
    arg: 'PATH',
    default: DEFAULT_CONTROL_PATH,
    reload: false,
    help: 'control socket path',
    doc: 'control socket ([protocol](control-protocol.md)); its directory is created',
  }),
  'control-mode': row({
    key: 'controlMode',
    kind: mode,
    arg: 'MODE',
    default: '0660',
    reload: false,
    help: 'control socket file mode (octal)',
    doc: 'file mode of the control socket, its only access control: modes that give others any access (such as `0666`, `0606`) are refused',
  }),
  'control-group': row({
    key: 'controlGid',
    kind: optional(controlGroup),
    arg: 'GROUP',
    shownDefault: "the daemon's group",
    reload: false,
    help: 'group allowed to use the control socket (name or gid)',
    doc: 'group allowed to deploy (name or gid) — the group of the user dehydrated runs as',
  }),
  ttl: row({
    key: 'ttlSeconds',
    kind: inSeconds(duration({ min: SECOND, max: MAX_TTL_SECONDS * SECOND, wholeSeconds: true })),
    arg: 'DURATION',
    default: '1h',
    reload: true,
    help: 'default challenge lifetime',
    doc: 'lifetime of a challenge when `deploy` names none',
  }),
  'max-challenges': row({
    key: 'maxChallenges',
    kind: wholeNumber('count', { min: 1, max: 1_000_000 }),
    arg: 'N',
    default: String(DEFAULT_MAX_CHALLENGES),
    reload: false,
    help: 'most challenges deployed at once',
    doc: 'most challenges deployed at once',
  }),
  'hello-timeout': row({
    key: 'helloTimeoutMs',
    kind: duration({ min: 1, max: 10 * MINUTE }),
    arg: 'DURATION',
    default: '10s',
    reload: true,
    help: 'how long a client may take to send its ClientHello',
    doc: 'how long a client may take to send its ClientHello',
  }),
  'max-hello-bytes': row({
    key: 'maxHelloBytes',
    kind: wholeNumber('size', { min: 256, max: 1024 * 1024, unit: 'bytes' }),
    arg: 'BYTES',
    default: String(MAX_CLIENT_HELLO_BYTES),
    reload: true,
    help: 'largest ClientHello read',
    doc: 'largest ClientHello read before the connection is dropped',
  }),
  'handshake-timeout': row({
    key: 'handshakeTimeoutMs',
    kind: duration({ min: 1, max: 10 * MINUTE }),
    arg: 'DURATION',
    default: '10s',
    reload: true,
    help: 'how long a challenge handshake may take',
    doc: 'how long a challenge handshake (and its connection) may last',
  }),
  backend: row({
    key: 'backends',
    kind: backends,
    arg: '[NAME=]HOST:PORT',
    list: true,
    shownDefault: 'none',
    reload: true,
    help: 'pass non-acme-tls/1 connections on: HOST:PORT (default), NAME=HOST:PORT or *.DOMAIN=HOST:PORT; repeatable',
    doc: 'where every connection that does not offer `acme-tls/1` goes, untouched: `HOST:PORT` is the default, `NAME=HOST:PORT` or `*.DOMAIN=HOST:PORT` a rule per SNI name (exact name first, then the longest wildcard, then the default); repeatable. Without any, such connections get a TLS alert.',
  }),
  'backend-proxy-protocol': row({
    key: 'backendProxyProtocol',
    kind: optional(oneOf(['v1', 'v2'])),
    arg: 'v1|v2',
    shownDefault: 'off',
    reload: true,
    help: 'prefix passed-through connections with a PROXY protocol header',
    doc: "start each passed-through connection with a PROXY protocol header carrying the client's address (nginx `listen … proxy_protocol`, Apache `RemoteIPProxyProtocol On`, HAProxy `accept-proxy`)",
  }),
  'accept-proxy-protocol': row({
    key: 'acceptProxyProtocol',
    kind: flag,
    arg: '',
    default: 'false',
    shownDefault: 'off',
    reload: true,
    help: 'require a PROXY v1/v2 header on every connection (behind nginx stream / HAProxy)',
    doc: 'every connection must start with a PROXY v1 or v2 header (the daemon sits behind nginx `stream` or HAProxy); the client address from the header is logged; connections without a valid header are closed. `true` or `false` in the environment and config file',
  }),
  'backend-connect-timeout': row({
    key: 'backendConnectTimeoutMs',
    kind: duration({ min: 1, max: 10 * MINUTE }),
    arg: 'DURATION',
    default: '5s',
    reload: true,
    help: 'how long connecting to a backend may take',
    doc: 'how long connecting to a backend may take',
  }),
  'idle-timeout': row({
    key: 'idleTimeoutMs',
    kind: duration({ min: 1, max: 24 * HOUR }),
    arg: 'DURATION',
    default: '5m',
    reload: true,
    help: 'how long a passed-through connection may stay silent',
    doc: 'a passed-through connection silent this long in both directions is closed',
  }),
  'max-connections': row({
    key: 'maxConnections',
    kind: wholeNumber('count', { min: 1, max: 1_000_000 }),
    arg: 'N',
    default: String(DEFAULT_MAX_CONNECTIONS),
    reload: true,
    help: 'most TLS-port connections at once; at the cap the oldest still without a ClientHello are closed',
    doc: 'most TLS-port connections open at once, for the whole daemon (with workers, each takes its share). At the cap the **oldest connections that have not yet sent a complete ClientHello** are closed to make room (so a flood of idle or slow clients cannot lock the CA out); if every connection is past its hello, the new one is let in anyway, up to 1/16 of the cap over it, and judged by its hello: a challenge handshake for a deployed name stays and closes the oldest passed-through connection (handshakes for deployed names come first); a connection for a backend is refused. When even that overflow is full of challenge handshakes, the oldest handshake of the source holding the most connections (an attacker stalling handshakes from many addresses) is closed for a newcomer from a source holding fewer (a CA perspective): [security.md](security.md#limits). Logged as `event=connection-limit limit=max-connections action=evicted\\|refused` at most once a second, with `suppressed=N`',
  }),
  'max-connections-per-source': row({
    key: 'maxConnectionsPerSource',
    kind: wholeNumber('count', { min: 1, max: 1_000_000 }),
    arg: 'N',
    default: String(DEFAULT_MAX_CONNECTIONS_PER_SOURCE),
    reload: true,
    help: 'most TLS-port connections at once per client IPv4 address or IPv6 /64, for the whole daemon',
    doc: 'most TLS-port connections open at once from one IPv4 address or IPv6 /64, for the whole daemon (with workers, each takes its share, see [Workers](#workers)); with `--accept-proxy-protocol`, the client named in the PROXY header. Further ones are closed at once (`event=connection-limit limit=max-connections-per-source action=refused`, at most once a second)',
  }),
  'handshake-rate': row({
    key: 'handshakeRate',
    kind: wholeNumber('count', { min: 1, max: 1_000_000 }),
    arg: 'N',
    default: String(DEFAULT_HANDSHAKE_RATE),
    reload: true,
    help: 'challenge handshakes per second per client IPv4 address or IPv6 /64 (token bucket refill); over it a hello gets an internal_error alert',
    doc: 'challenge handshakes per second per IPv4 address or IPv6 /64 (with `--accept-proxy-protocol`, the client named in the PROXY header): the refill of a token bucket of `--handshake-burst`. Only connections that get a challenge handshake (`acme-tls/1` for a deployed name) take a token; refusals and passthrough do not. Over it the connection gets a fatal `internal_error` alert before any key exchange, logged as `level=warn event=connection-limit limit=handshake-rate action=refused` at most once a second (no `event=connection` line). With `--workers N`, per worker: see [Workers](#workers). [security.md](security.md#limits) says why',
  }),
  'handshake-burst': row({
    key: 'handshakeBurst',
    kind: wholeNumber('count', { min: 1, max: 1_000_000 }),
    arg: 'N',
    default: String(DEFAULT_HANDSHAKE_BURST),
    reload: true,
    help: 'challenge handshakes one client IPv4 address or IPv6 /64 may start at once (token bucket size)',
    doc: 'challenge handshakes one IPv4 address or IPv6 /64 may start at once: the size of the bucket `--handshake-rate` refills. The default is above `--max-connections-per-source` on purpose, so that one CA address validating a 100-name order at once is never refused ([security.md](security.md#limits))',
  }),
  'max-control-connections': row({
    key: 'maxControlConnections',
    kind: wholeNumber('count', { min: 1, max: 100_000 }),
    arg: 'N',
    default: String(DEFAULT_MAX_CONTROL_CONNECTIONS),
    reload: false,
    help: 'most control-socket clients at once',
    doc: 'most control-socket clients at once; further ones are closed on accept (`event=control-limit`, at most once a second)',
  }),
  'control-rate': row({
    key: 'controlCommandsPerSecond',
    kind: wholeNumber('count', { min: 1, max: 1_000_000 }),
    arg: 'N',
    default: String(DEFAULT_CONTROL_COMMANDS_PER_SECOND),
    reload: false,
    help: 'control commands per second per connection; faster ones are delayed',
    doc: 'control commands per second per connection (as many in a burst); faster ones are delayed, not refused (`event=control-limit action=delayed`, at most once a second)',
  }),
  'max-control-line': row({
    key: 'maxControlLine',
    kind: wholeNumber('size', { min: 512, max: 1024 * 1024, unit: 'bytes' }),
    arg: 'BYTES',
    default: String(MAX_CONTROL_LINE),
    reload: false,
    help: 'longest control command line; a longer one is refused and its connection closed',
    doc: 'longest control command line; a longer one gets `ERR line-too-long` and its connection is closed (`event=control-limit limit=max-control-line action=closed`, at most once a second). A deploy line is about 400 bytes.',
  }),
  'watch-dir': row({
    key: 'watchDir',
    kind: optional(absolutePath),
    arg: 'DIR',
    shownDefault: 'none',
    reload: false,
    help: 'also serve the NAME.crt.pem + NAME.key.pem pairs dehydrated writes to this directory (its ALPNCERTDIR); it must exist',
    doc: 'also serve the `NAME.crt.pem` + `NAME.key.pem` pairs dehydrated writes to `DIR` (its `ALPNCERTDIR`), so dehydrated needs no hook ([dehydrated.md](dehydrated.md#without-a-hook---watch-dir)). `DIR` must exist at start (`ERR_WATCH_DIR`); a deploy for the same name wins over a file. SIGHUP rescans it.',
  }),
  state: row({
    key: 'statePath',
    kind: optional(absolutePath),
    arg: 'FILE',
    shownDefault: 'none (memory only); the service uses `/var/lib/alpn-responder/state.json`',
    reload: false,
    help: 'file that keeps deployed challenges across restarts; default: memory only',
    doc: 'keep deployed challenges across restarts and crashes: [see below](#state-across-restarts). Its directory must exist and be writable.',
  }),
  store: row({
    key: 'storeUrl',
    kind: optional(storeUrl),
    arg: 'URL',
    shownDefault: 'none (challenges stay on this node)',
    reload: false,
    help: 'share challenges with other nodes through Redis: redis://[USER:PASSWORD@]HOST:PORT/DB, rediss://…, redis+sentinel://…, redis+cluster://… (docs/cluster.md); not with --state',
    doc: 'share challenges with the other nodes of a fleet through Redis, so a deploy on any node is served by all: `redis://[USER:PASSWORD@]HOST[:PORT][/DB]`, `rediss://…` (TLS), `redis+sentinel://S1,S2/MASTER[/DB]`, `redis+cluster://N1,N2`. Not with `--state` (`ERR_BAD_STORE`). See [cluster.md](cluster.md).',
  }),
  'store-prefix': row({
    key: 'storePrefix',
    kind: text(/^[!-~]{1,64}$/, '1 to 64 printable ASCII characters without spaces'),
    arg: 'NAME',
    default: DEFAULT_STORE_PREFIX,
    reload: false,
    help: 'prefix of every Redis key and channel, so several fleets can share one Redis',
    doc: 'prefix of every Redis key and of the channel, so several fleets can share one Redis',
  }),
  'store-fallback': row({
    key: 'storeFallback',
    kind: oneOf<StoreFallback>(STORE_FALLBACKS),
    arg: 'none|memory',
    default: 'none',
    reload: false,
    help: 'Redis unreachable at start: none exits; memory serves what is deployed on this node only (logged loudly)',
    doc: 'Redis unreachable at start: `none` exits (`ERR_STORE_UNREACHABLE`); `memory` starts anyway, serving only what is deployed on this node, logged as `level=error event=store-fallback`',
  }),
  'store-timeout': row({
    key: 'storeTimeoutMs',
    kind: duration({ min: 1, max: 10 * MINUTE }),
    arg: 'DURATION',
    default: `${DEFAULT_STORE_TIMEOUT_SECONDS}s`,
    reload: false,
    help: 'how long connecting to Redis and each Redis command may take',
    doc: 'how long connecting to Redis and each Redis command may take; a `deploy` while Redis is away answers `ERR store-unavailable` instead of hanging',
  }),
  user: row({
    key: 'runAs',
    kind: optional(runAs),
    arg: 'USER[:GROUP]',
    shownDefault: 'none (stays as started)',
    reload: false,
    help: 'started as root: open the ports and control socket, then become USER[:GROUP] (names or ids) before serving',
    doc: 'started as root: open the ports and the control socket, then become `USER` (and `GROUP`, else the user\'s primary group) before serving anything — supplementary groups cleared, then setgid, then setuid. Names are looked up in `/etc/passwd` / `/etc/group`; give numbers (`990:990`) for accounts only NSS knows. The control socket file is given to that user, with `--control-group` or else `GROUP` as its group; its directory stays root\'s (the socket is left at exit and replaced at the next start, see [security](security.md#the-control-socket)). Not root: `ERR_USER_NEEDS_ROOT`. Under systemd use `User=` / `DynamicUser=` instead ([systemd.md](systemd.md)).',
  }),
  'shutdown-timeout': row({
    key: 'shutdownTimeoutMs',
    kind: duration({ min: 0, max: HOUR }),
    arg: 'DURATION',
    default: '10s',
    reload: true,
    help: 'how long shutdown waits for open connections to finish',
    doc: 'on SIGTERM/SIGINT, how long open connections (handshakes, passthrough) may take to finish before they are dropped; `0` drops them at once',
  }),
  config: row({
    key: 'configPath',
    kind: optional(filePath),
    arg: 'FILE',
    shownDefault: 'none',
    reload: false,
    help: 'JSON file of serve options; the command line and environment override it; SIGHUP re-reads it',
    doc: 'a JSON object of these options by their names, e.g. `{"listen": ["[::]:443"], "backend": ["127.0.0.1:8443"], "ttl": "1h", "idle-timeout": 300}`; the command line and the environment override it. Not itself a key of the file.',
  }),
  'log-level': row({
    key: 'logLevel',
    kind: oneOf<LogLevel>(['debug', 'info', 'warn', 'error']),
    arg: 'LEVEL',
    default: 'info',
    reload: false,
    help: 'least severe event logged',
    doc: '`debug`, `info`, `warn` or `error`',
  }),
  workers: row({
    key: 'workers',
    // auto: one per CPU, within what --workers accepts (a 96-CPU host must still start).
    kind: countOrAuto({ min: 1, max: MAX_WORKERS }, () => os.availableParallelism()),
    arg: 'N|auto',
    default: '1',
    reload: false,
    help: `processes serving the TLS port: 1 serves from the main process; N > 1 or auto (one per CPU, at most ${MAX_WORKERS}) fork workers, for hosts that pass much traffic through`,
    doc: `processes serving the TLS port: \`1\` serves everything from the one process (about 70 MiB), enough for ACME validations; \`N\` > 1, or \`auto\` for one per CPU (at most ${MAX_WORKERS}), forks that many workers (about 55 MiB each) for hosts that pass much TLS traffic through. See [Workers](#workers).`,
  }),
} as const;

/** A `serve` option name. */
export type OptionName = keyof typeof SERVE_OPTIONS;

type Rows = typeof SERVE_OPTIONS;
type RowValue<R> = R extends OptionRow<string, infer T> ? T : never;

/** Each option's checked value, by its key. */
export type OptionValues = { readonly [N in OptionName as Rows[N]['key']]: RowValue<Rows[N]> };

/** The options that together choose a shared store, and `--config` itself: not passed to the daemon as they are. */
type Combined = 'storeUrl' | 'storePrefix' | 'storeFallback' | 'storeTimeoutMs' | 'configPath';

/** Everything `serve` can be told, checked: what the daemon receives. */
export type DaemonOptions = Omit<OptionValues, Combined> & {
  /** `--store` with its prefix, fallback and timeout; undefined keeps challenges local. */
  readonly store: SharedStoreConfig | undefined;
};

/** The rows as a list, in table order. */
export function optionRows(): [OptionName, OptionRow][] {
  return Object.entries(SERVE_OPTIONS) as [OptionName, OptionRow][];
}

/** The daemon options a reload (SIGHUP) cannot change, with the option names an operator knows them by. */
export const RESTART_ONLY: readonly { readonly key: keyof DaemonOptions; readonly name: OptionName }[] = optionRows()
  .filter(([name, spec]) => !spec.reload && name !== 'config' && (name === 'store' || !name.startsWith('store-')))
  // The --store-* options reach the daemon inside `store`.
  .map(([name, spec]) => ({ key: spec.key === 'storeUrl' ? 'store' : (spec.key as keyof DaemonOptions), name }));

/** The environment variable behind an option: `control-mode` → `ALPN_RESPONDER_CONTROL_MODE`. */
export function envName(option: string): string {
  return `ALPN_RESPONDER_${option.toUpperCase().replaceAll('-', '_')}`;
}
