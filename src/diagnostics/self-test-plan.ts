/**
 * Where the doctor's self-test connects, so that every listening socket on an examined port is tested through
 * itself: a foreign `[::]:443` is only judged by a connection over IPv6, a `0.0.0.0:443` by one over IPv4. Pure:
 * the socket list and this host's addresses are handed in.
 *
 * Which socket takes a connection follows the kernel's choice for a destination address: a socket bound to that
 * very address, else the wildcard of its family, else (IPv4 only) a dual-stack IPv6 wildcard.
 */
import type { NetworkInterfaceInfo } from 'node:os';
import { formatIpAddress, parseIPv4, parseIPv6 } from '../ip-address.js';
import type { ListenTarget } from './listen-targets.js';
import type { ListeningSocket } from './port-owner.js';

/** The addresses of this host a self-test can connect to. */
export interface LocalAddresses {
  /** Whether `::1` is configured (containers often run without IPv6). */
  readonly ipv6Loopback: boolean;
  /** Non-loopback IPv4 addresses. */
  readonly v4: readonly string[];
  /** Non-loopback IPv6 addresses that need no zone (link-local ones are left out). */
  readonly v6: readonly string[];
}

/** One connection of the self-test. */
export interface SelfTestProbe {
  readonly host: string;
  readonly port: number;
  /** True when it tests one of the daemon's own listeners (from `status`), false for another socket on the port. */
  readonly daemon: boolean;
}

/** A socket no self-test connection can reach from this host, and why. */
export interface UntestedSocket {
  readonly socket: ListeningSocket;
  readonly why: string;
}

/** The self-test's connections, and the sockets left untested. */
export interface SelfTestPlan {
  readonly probes: readonly SelfTestProbe[];
  readonly untested: readonly UntestedSocket[];
}

/** This host's addresses, from `os.networkInterfaces()`. */
export function localAddresses(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>): LocalAddresses {
  let ipv6Loopback = false;
  const v4 = new Set<string>();
  const v6 = new Set<string>();
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) {
      const bytes = info.family === 'IPv4' ? parseIPv4(info.address) : parseIPv6(info.address.replace(/%.*$/, ''));
      if (bytes === undefined) continue;
      const address = formatIpAddress(bytes);
      if (address === '::1') ipv6Loopback = true;
      else if (info.internal) continue;
      else if (info.family === 'IPv4') v4.add(address);
      // fe80::/10 needs a zone to connect to; the CA never sees it anyway.
      else if (!((bytes[0] ?? 0) === 0xfe && ((bytes[1] ?? 0) & 0xc0) === 0x80)) v6.add(address);
    }
  }
  return { ipv6Loopback, v4: [...v4].sort(), v6: [...v6].sort() };
}

/** Canonical IP text, or undefined for a host name. */
function canonicalIp(host: string): string | undefined {
  const bytes = parseIPv4(host) ?? parseIPv6(host.replace(/%.*$/, ''));
  return bytes === undefined ? undefined : formatIpAddress(bytes);
}

/**
 * The socket in `sockets` that the kernel hands a connection to `host:port`, or undefined when none would take it
 * (or `host` is a name, not an address).
 */
export function socketFor(host: string, port: number, sockets: readonly ListeningSocket[]): ListeningSocket | undefined {
  const address = canonicalIp(host);
  if (address === undefined) return undefined;
  const onPort = sockets.filter((s) => s.port === port);
  const exact = onPort.find((s) => s.address === address);
  if (exact !== undefined) return exact;
  if (address.includes(':')) return onPort.find((s) => s.address === '::');
  return onPort.find((s) => s.address === '0.0.0.0') ?? onPort.find((s) => s.address === '::' && s.dualStack !== false);
}

/**
 * Where to connect so that the connection lands on a socket bound to `address`: the address itself, or for a
 * wildcard the first local address of each family it takes that no more specific socket holds. `missing` names a
 * family the wildcard takes but nothing here can reach.
 */
function destinations(
  address: string,
  port: number,
  sockets: readonly ListeningSocket[],
  local: LocalAddresses,
  dualStack: boolean,
): { hosts: string[]; missing?: string } {
  if (address !== '0.0.0.0' && address !== '::') return { hosts: [address] };
  const lands = (host: string): boolean => {
    const socket = socketFor(host, port, sockets);
    // An address the socket table does not show (daemon reported, table not readable) lands on the wildcard.
    return socket === undefined || socket.address === address;
  };
  const hosts: string[] = [];
  const v4 = ['127.0.0.1', ...local.v4].find(lands);
  if (address === '0.0.0.0' || dualStack) {
    if (v4 !== undefined) hosts.push(v4);
  }
  if (address === '::') {
    const v6 = [...(local.ipv6Loopback ? ['::1'] : []), ...local.v6].find(lands);
    if (v6 !== undefined) hosts.push(v6);
    else {
      return {
        hosts,
        missing: local.ipv6Loopback || local.v6.length > 0
          ? 'every IPv6 address of this host is held by a more specific socket'
          : 'this host has no IPv6 loopback (::1) and no other IPv6 address to connect through',
      };
    }
  }
  return { hosts };
}

/**
 * The self-test's connections: through each target (as before: both families of a dual-stack wildcard) and
 * through every socket the table shows on the targets' ports, each destination once.
 */
export function planSelfTest(
  targets: readonly ListenTarget[],
  sockets: readonly ListeningSocket[],
  local: LocalAddresses,
): SelfTestPlan {
  const probes = new Map<string, SelfTestProbe>();
  const untested: UntestedSocket[] = [];
  const add = (host: string, port: number, daemon: boolean): void => {
    const key = `${host}\0${port}`;
    const known = probes.get(key);
    if (known === undefined || (daemon && !known.daemon)) probes.set(key, { host, port, daemon });
  };
  for (const { address, daemon } of targets) {
    const ip = canonicalIp(address.host);
    if (ip === undefined) {
      add(address.host, address.port, daemon);
      continue;
    }
    // The daemon binds `[::]` dual-stack; another server's `[::]` from --listen may not be.
    const table = socketFor(ip, address.port, sockets);
    const dualStack = table?.address === ip ? table.dualStack !== false : true;
    for (const host of destinations(ip, address.port, sockets, local, dualStack).hosts) add(host, address.port, daemon);
  }
  const ports = new Set(targets.map((t) => t.address.port));
  for (const socket of sockets) {
    if (!ports.has(socket.port)) continue;
    // A dual-stack wildcard takes IPv4 only when no IPv4 socket holds the port (the kernel would refuse the bind).
    const dualStack = socket.dualStack ?? !sockets.some((s) => s.port === socket.port && s.family === 'IPv4');
    const { hosts, missing } = destinations(socket.address, socket.port, sockets, local, socket.address === '::' && dualStack);
    for (const host of hosts) add(host, socket.port, false);
    if (missing !== undefined) untested.push({ socket, why: missing });
  }
  return { probes: [...probes.values()], untested };
}
