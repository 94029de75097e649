/**
 * The `--store` URL: which Redis deployment the fleet shares, as a pure parse. Standalone Redis, Sentinel and
 * Cluster are all reached through ioredis's own support; this only turns one URL into the connection settings.
 *
 * ```
 * redis://[USER:PASSWORD@]HOST[:PORT][/DB]                          one server (rediss:// for TLS)
 * redis+sentinel://[USER:PASSWORD@]HOST[:PORT][,HOST[:PORT]…]/MASTER[/DB]   Sentinel (rediss+sentinel:// for TLS)
 * redis+cluster://[USER:PASSWORD@]HOST[:PORT][,HOST[:PORT]…]        Cluster seed nodes (rediss+cluster:// for TLS)
 * ```
 *
 * A comma-separated host list is not a WHATWG URL, hence the hand-written parse; it is strict (no query string,
 * nothing left over) so a typo is an error at start, not a silently ignored setting.
 */
import { AlpnResponderError } from '../errors.js';
import { ipVersion, withoutZone } from '../ip-address.js';

/** One `HOST:PORT` of the URL. */
export interface RedisHost {
  readonly host: string;
  readonly port: number;
}

/** What `--store` names. */
export type RedisTarget = {
  /** The URL with the password replaced by `***`, for logs and messages. */
  readonly display: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** TLS to every Redis (and Sentinel) connection, verified against the system CAs plus NODE_EXTRA_CA_CERTS. */
  readonly tls: boolean;
} & (
  | { readonly kind: 'standalone'; readonly host: RedisHost; readonly db: number }
  | { readonly kind: 'sentinel'; readonly sentinels: readonly RedisHost[]; readonly masterName: string; readonly db: number }
  | { readonly kind: 'cluster'; readonly nodes: readonly RedisHost[] }
);

/** Longest `--store` value read: far beyond any real URL, short enough that a pasted file is refused at once. */
const MAX_URL_LENGTH = 2048;
/** Most hosts in a Sentinel or Cluster list; the client needs a few to find the rest. */
const MAX_HOSTS = 16;
/** Redis's `databases` setting is an int; real deployments use a handful. */
const MAX_DB = 1_000_000;

const SCHEMES = {
  'redis:': { kind: 'standalone', tls: false, port: 6379 },
  'rediss:': { kind: 'standalone', tls: true, port: 6379 },
  'redis+sentinel:': { kind: 'sentinel', tls: false, port: 26379 },
  'rediss+sentinel:': { kind: 'sentinel', tls: true, port: 26379 },
  'redis+cluster:': { kind: 'cluster', tls: false, port: 6379 },
  'rediss+cluster:': { kind: 'cluster', tls: true, port: 6379 },
} as const;

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,252})$/;
const MASTER_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const DB = /^\d{1,7}$/;

function bad(display: string, why: string): AlpnResponderError {
  return new AlpnResponderError('ERR_BAD_STORE', `--store ${display}: ${why}`);
}

function decode(part: string, what: string, display: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw bad(display, `the ${what} has a malformed %-escape`);
  }
}

function parseHost(text: string, defaultPort: number, display: string): RedisHost {
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::(\d{1,5}))?$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? defaultPort : Number(match[3]);
  if (host === undefined || host === '') throw bad(display, `${JSON.stringify(text)} is not HOST[:PORT]`);
  const bracketed = match?.[1] !== undefined;
  // A bracketed IPv6 address may name its zone (RFC 6874), as ioredis passes it to the socket.
  if (bracketed ? ipVersion(withoutZone(host)) !== 6 : !(ipVersion(host) === 4 || HOST_NAME.test(host))) {
    throw bad(display, `${JSON.stringify(host)} is not a host name or IP address (IPv6 in brackets)`);
  }
  if (!(port >= 1 && port <= 65535)) throw bad(display, `port ${port} is not between 1 and 65535`);
  return { host, port };
}

/**
 * Parses a `--store` URL.
 *
 * @throws AlpnResponderError ERR_BAD_STORE naming what is wrong; the message never contains the password.
 */
export function parseRedisTarget(url: string): RedisTarget {
  if (url.length > MAX_URL_LENGTH) throw bad(`(${url.length} characters)`, `longer than ${MAX_URL_LENGTH} characters`);
  const schemeEnd = url.indexOf('//');
  const scheme = schemeEnd > 0 ? url.slice(0, schemeEnd).toLowerCase() : '';
  const rest = schemeEnd > 0 ? url.slice(schemeEnd + 2) : '';
  const at = rest.lastIndexOf('@');
  const userinfo = at >= 0 ? rest.slice(0, at) : undefined;
  const afterUser = at >= 0 ? rest.slice(at + 1) : rest;
  const display =
    userinfo === undefined || !userinfo.includes(':')
      ? url
      : `${url.slice(0, schemeEnd + 2)}${userinfo.slice(0, userinfo.indexOf(':'))}:***@${afterUser}`;
  if (!Object.hasOwn(SCHEMES, scheme)) {
    throw bad(display, `the scheme must be one of ${Object.keys(SCHEMES).map((s) => `${s}//`).join(', ')}`);
  }
  const spec = SCHEMES[scheme as keyof typeof SCHEMES];
  if (/[?#\s]/.test(afterUser)) throw bad(display, 'query strings, fragments and spaces are not accepted');

  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    const user = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, 'user name', display);
    // `redis://:PASSWORD@…` is the classic requirepass form: no user name.
    username = user === '' ? undefined : user;
    password = colon >= 0 ? decode(userinfo.slice(colon + 1), 'password', display) : undefined;
  }

  const slash = afterUser.indexOf('/');
  const hostList = slash >= 0 ? afterUser.slice(0, slash) : afterUser;
  const path = slash >= 0 ? afterUser.slice(slash + 1).split('/') : [];
  const hostTexts = hostList.split(',');
  if (hostTexts.length > MAX_HOSTS) throw bad(display, `more than ${MAX_HOSTS} hosts`);
  const hosts = hostTexts.map((text) => parseHost(text, spec.port, display));
  const parseDb = (text: string | undefined): number => {
    if (text === undefined || text === '') return 0;
    const db = DB.test(text) ? Number(text) : Number.NaN;
    if (!(db >= 0 && db <= MAX_DB)) throw bad(display, `database ${JSON.stringify(text)} is not a number from 0 to ${MAX_DB}`);
    return db;
  };
  const common = { display, username, password, tls: spec.tls };

  switch (spec.kind) {
    case 'standalone': {
      const [host] = hosts;
      if (host === undefined || hosts.length !== 1) throw bad(display, 'name exactly one HOST[:PORT]; Sentinel and Cluster have their own schemes');
      if (path.length > 1) throw bad(display, 'the path is only the database number, e.g. /0');
      return { ...common, kind: 'standalone', host, db: parseDb(path[0]) };
    }
    case 'sentinel': {
      const [masterName, db, ...extra] = path;
      if (masterName === undefined || !MASTER_NAME.test(masterName)) {
        throw bad(display, 'the path must name the Sentinel master group, e.g. redis+sentinel://s1:26379,s2:26379/mymaster/0');
      }
      if (extra.length > 0) throw bad(display, 'the path is /MASTER or /MASTER/DB');
      return { ...common, kind: 'sentinel', sentinels: hosts, masterName, db: parseDb(db) };
    }
    case 'cluster':
      // Redis Cluster has only database 0.
      if (path.some((part) => part !== '')) throw bad(display, 'Redis Cluster has no databases: leave the path out');
      return { ...common, kind: 'cluster', nodes: hosts };
  }
}
