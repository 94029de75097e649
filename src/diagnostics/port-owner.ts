/**
 * Who owns a listen port, and whether the CA would reach alpn-responder through it. Pure: the socket list comes
 * from `socket-table.ts` (systeminformation, which runs `netstat` or `ss`); here it is normalised and judged, so
 * every verdict can be tested with fixture lists.
 */
import type { NetworkInterfaceInfo } from 'node:os';
import { formatIpAddress, parseIPv4, parseIPv6, isLoopbackAddress } from '../ip-address.js';
import type { ListenAddress } from '../net/listen-address.js';
import type { Check } from './checklist.js';

/** What ss shows as the name of a Node.js process: `node`, or `MainThread` from Node 24 on (it names its main thread). */
const NODE_PROCESS_NAMES = new Set(['node', 'MainThread']);

/** One row of systeminformation's `networkConnections()`: its types say `pid: number`, but it gives null too. */
export interface RawConnection {
  readonly protocol: string;
  readonly localAddress: string;
  readonly localPort: string;
  readonly state: string;
  readonly pid?: number | null;
  readonly process?: string;
}

/** Address family of a listening socket. */
export type Family = 'IPv4' | 'IPv6';

/** A TCP socket in LISTEN state, normalised. */
export interface ListeningSocket {
  /** Canonical address without brackets or zone: `0.0.0.0`, `::`, `127.0.0.1`, `2001:db8::1`. */
  readonly address: string;
  readonly port: number;
  readonly family: Family;
  /**
   * For the IPv6 wildcard: whether it accepts IPv4 too. `ss` says (`*` dual-stack, `[::]` IPv6-only); `netstat`
   * does not (undefined).
   */
  readonly dualStack?: boolean;
  /** Absent when the tool could not see it: other users' processes are only visible to root. */
  readonly pid?: number;
  readonly process?: string;
}

/** How much of the socket table could be seen. */
export interface SocketVisibility {
  /**
   * Which tool systeminformation ran. With `none` (neither installed) or `timeout` (no answer in time) the list is
   * empty, which proves nothing.
   */
  readonly tool: 'ss' | 'netstat' | 'none' | 'timeout';
  /** Only root sees the pid and name of other users' processes. */
  readonly root: boolean;
}

/** Canonical text of an IP address as a tool printed it, or undefined when it is none. */
function canonicalAddress(text: string): string | undefined {
  const bare = text.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const bytes = parseIPv4(bare) ?? parseIPv6(bare);
  return bytes === undefined ? undefined : formatIpAddress(bytes);
}

/** The TCP listeners among systeminformation's rows, normalised; rows it mis-parsed are dropped. */
export function listeningSockets(rows: readonly RawConnection[]): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const row of rows) {
    if (row.state !== 'LISTEN' || !/^tcp6?$/.test(row.protocol) || !/^\d{1,5}$/.test(row.localPort)) continue;
    // ss prints a dual-stack IPv6 wildcard as `*` and an IPv6-only one as `[::]`; netstat prints both as `::`.
    const star = row.localAddress === '*';
    const address = star ? '::' : canonicalAddress(row.localAddress);
    if (address === undefined) continue;
    const family: Family = address.includes(':') ? 'IPv6' : 'IPv4';
    const dualStack = star ? true : row.localAddress === '[::]' ? false : undefined;
    const pid = typeof row.pid === 'number' && row.pid > 0 ? row.pid : undefined;
    sockets.push({
      address,
      port: Number(row.localPort),
      family,
      ...(address === '::' && dualStack !== undefined ? { dualStack } : {}),
      ...(pid === undefined ? {} : { pid }),
      ...(row.process ? { process: row.process } : {}),
    });
  }
  return sockets;
}

/** Global unicast IPv6 addresses (2000::/3) of this host: the ones a CA could connect to. */
export function globalIPv6Addresses(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): string[] {
  const found = new Set<string>();
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) {
      if (info.family !== 'IPv6' || info.internal) continue;
      const bytes = parseIPv6(info.address.replace(/%.*$/, ''));
      // Link-local (fe80::/10), unique-local (fc00::/7) and loopback are out of the CA's reach.
      if (bytes !== undefined && ((bytes[0] ?? 0) & 0xe0) === 0x20) found.add(formatIpAddress(bytes));
    }
  }
  return [...found].sort();
}

/**
 * What the self-test says about one listening socket: a connection that landed on it passed (every one that did),
 * one failed, or none landed on it.
 */
export type SocketVerdict =
  | { readonly kind: 'passed'; readonly via: string }
  | { readonly kind: 'failed'; readonly via: string; readonly problem: string }
  | { readonly kind: 'untested'; readonly why: string };

/** What the doctor knows about the daemon: undefined when its control socket did not answer. */
export interface DaemonView {
  readonly listeners: readonly ListenAddress[];
}

/** Everything {@link judgePort} weighs for one port. */
export interface PortFacts {
  readonly port: number;
  readonly sockets: readonly ListeningSocket[];
  readonly visibility: SocketVisibility;
  readonly daemon: DaemonView | undefined;
  /** This host's global IPv6 addresses, see {@link globalIPv6Addresses}. */
  readonly globalIPv6: readonly string[];
  /**
   * What the self-test connections that landed on a socket found (see `self-test-plan.ts`); absent when no
   * self-test ran (`--quick`, or the control socket did not answer). A foreign socket passes only on `passed`.
   */
  readonly selfTest?: (socket: ListeningSocket) => SocketVerdict;
}

function hostText(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

function listAddresses(sockets: readonly ListeningSocket[]): string {
  return [...new Set(sockets.map((s) => hostText(s.address)))].join(' and ');
}

function ownerText(socket: ListeningSocket, visibility: SocketVisibility): string {
  if (socket.pid === undefined) {
    return visibility.root ? 'a process the socket list does not name' : 'a process hidden from this user (not root: process names hidden)';
  }
  return `${socket.process ?? 'process'} (pid ${socket.pid})`;
}

const MOVE_WEB_SERVER =
  'Move that server to 127.0.0.1:8443 and run the daemon on this port with --backend 127.0.0.1:8443 ' +
  '(docs/layouts.md, layout (b)); a front proxy must pass acme-tls/1 on to the daemon (layout (c)).';

/**
 * Judges one listen port: who owns it (pid and name), whether that is alpn-responder, and whether it is reachable
 * over the address families the CA uses.
 */
export function judgePort(facts: PortFacts): Check[] {
  const { port, visibility, daemon } = facts;
  const check = (status: Check['status'], title: string, remedy?: string): Check => ({
    id: 'port',
    status,
    title: `port ${port}: ${title}`,
    ...(remedy === undefined ? {} : { remedy }),
  });
  if (visibility.tool === 'none') {
    return [check('warn', 'cannot see who listens: neither ss nor netstat is installed', 'Install iproute2 (ss) so doctor can name the owner of the port.')];
  }
  if (visibility.tool === 'timeout') {
    return [check('warn', 'cannot see who listens: netstat/ss did not answer in time', `See for yourself: ss -ltnp 'sport = :${port}'.`)];
  }
  const entries = facts.sockets.filter((s) => s.port === port);
  const daemonHere = daemon?.listeners.filter((l) => l.port === port) ?? [];
  if (entries.length === 0) {
    if (daemonHere.length > 0) {
      return [
        check(
          'warn',
          `the daemon reports ${daemonHere.map((l) => hostText(l.host)).join(', ')} but ${visibility.tool} shows no listener`,
          'The daemon runs in another network namespace (a container) than this check: look from inside it (`ss -ltnp`).',
        ),
      ];
    }
    return [check('fail', 'nothing listens: the CA\'s connections would be refused', `Start the daemon: alpn-responder serve --listen '[::]:${port}'.`)];
  }

  // The socket bound exactly where the daemon says it listens is the daemon's; its pid marks its other sockets.
  const isDaemonAddress = (s: ListeningSocket): boolean => daemonHere.some((l) => canonicalAddress(l.host) === s.address);
  const daemonPids = new Set(entries.filter(isDaemonAddress).flatMap((s) => (s.pid === undefined ? [] : [s.pid])));
  const isOurs = (s: ListeningSocket): boolean =>
    isDaemonAddress(s) || (s.pid !== undefined && daemonPids.has(s.pid)) || /alpn-responder/.test(s.process ?? '');

  const checks: Check[] = [];
  const ours = entries.filter(isOurs);
  const foreign = entries.filter((s) => !isOurs(s));
  if (ours.length > 0) {
    const first = ours[0] as ListeningSocket;
    const who = first.pid === undefined ? `alpn-responder (pid hidden${visibility.root ? '' : ': not root'})` : `alpn-responder (pid ${first.pid}, ${first.process ?? '?'})`;
    checks.push(check('pass', `${who} on ${listAddresses(ours)}${familyText(ours, isOurs)}`));
  }
  const verdictOf = (s: ListeningSocket): SocketVerdict | undefined => facts.selfTest?.(s);
  // One line per owner and verdict: an owner's IPv4 socket may pass acme-tls/1 on while its IPv6 one does not.
  const groups = new Map<string, ListeningSocket[]>();
  for (const s of foreign) {
    const key = `${String(s.pid)}\0${verdictOf(s)?.kind ?? 'none'}`;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  for (const sockets of groups.values()) {
    const first = sockets[0] as ListeningSocket;
    const who = ownerText(first, visibility);
    const where = listAddresses(sockets);
    const verdict = verdictOf(first);
    const rootHint = first.pid === undefined && !visibility.root ? ` Only root sees which process it is: as root, \`ss -ltnp 'sport = :${port}'\` names it.` : '';
    if (verdict?.kind === 'passed') {
      checks.push(check('pass', `${who} on ${where} passes acme-tls/1 on to the daemon (the self-test via ${verdict.via} passed)`));
    } else if (verdict?.kind === 'failed') {
      checks.push(check('fail', `${who} listens on ${where}, not alpn-responder: the self-test via ${verdict.via} got "${verdict.problem}"`, `${MOVE_WEB_SERVER}${rootHint}`));
    } else if (daemon === undefined && (first.pid === undefined || NODE_PROCESS_NAMES.has(first.process ?? ''))) {
      checks.push(
        check(
          'warn',
          `${who} listens on ${where}; whether it is alpn-responder cannot be told while the control socket does not answer`,
          first.pid === undefined ? `Fix the control socket first; as root, \`ss -ltnp 'sport = :${port}'\` names the process.` : 'Fix the control socket first.',
        ),
      );
    } else if (verdict?.kind === 'untested') {
      const text = `${who} listens on ${where}, not alpn-responder as far as can be told: not tested, ${verdict.why}`;
      // Without any IPv6 address here the CA cannot reach an IPv6 socket either.
      const unreachable = first.family === 'IPv6' && facts.globalIPv6.length === 0 && !sockets.some((s) => s.dualStack === true);
      checks.push(
        unreachable
          ? check('warn', text, 'Harmless while this host has no global IPv6 address; once it has one, the CA\'s IPv6 connections reach this server.')
          : check('fail', text, `${MOVE_WEB_SERVER}${rootHint}`),
      );
    } else {
      checks.push(check('fail', `${who} listens on ${where}, not alpn-responder`, `${MOVE_WEB_SERVER}${rootHint}`));
    }
  }

  // Address families: only for ports the CA can reach (not a loopback port behind a front proxy).
  const serving = [...ours, ...foreign.filter((s) => verdictOf(s)?.kind === 'passed')];
  if (serving.some((s) => !isLoopbackAddress(s.address))) {
    const { v4, v6 } = families(serving, isOurs);
    const [globalV6] = facts.globalIPv6;
    if (v4 && !v6 && globalV6 !== undefined) {
      checks.push(
        check(
          'fail',
          `listens on IPv4 only, but this host has the global IPv6 address ${globalV6}: the CA tries IPv6 first when the name has an AAAA record`,
          `Listen on [::]:${port} (dual-stack, IPv4 too), or remove the name's AAAA record.`,
        ),
      );
    } else if (v6 && !v4) {
      checks.push(
        check('warn', 'listens on IPv6 only: names with an A record are validated over IPv4', `Listen on [::]:${port} without IPv6-only, or add 0.0.0.0:${port}.`),
      );
    }
  }
  return checks;
}

/**
 * Which families reach these sockets. The IPv6 wildcard takes IPv4 too when the tool says it is dual-stack; when
 * it cannot say (netstat), only the daemon's own is assumed to be (it binds `[::]` with IPv6-only off), while
 * other servers often default to IPv6-only (nginx `listen [::]:443`).
 */
function families(sockets: readonly ListeningSocket[], isOurs: (s: ListeningSocket) => boolean): { v4: boolean; v6: boolean } {
  return {
    v4: sockets.some((s) => s.family === 'IPv4' || (s.address === '::' && (s.dualStack ?? isOurs(s)))),
    v6: sockets.some((s) => s.family === 'IPv6'),
  };
}

function familyText(sockets: readonly ListeningSocket[], isOurs: (s: ListeningSocket) => boolean): string {
  const { v4, v6 } = families(sockets, isOurs);
  return v4 && v6 ? ' (IPv4 and IPv6)' : v4 ? ' (IPv4 only)' : ' (IPv6 only)';
}
