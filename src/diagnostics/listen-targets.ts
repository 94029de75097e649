/**
 * Which addresses the doctor examines, and where it connects to test each one. Pure.
 */
import { formatListenAddress, type ListenAddress } from '../net/listen-address.js';

/** An address the doctor examines. */
export interface ListenTarget {
  readonly address: ListenAddress;
  /** True when the daemon's `status` lists it; otherwise it came only from --listen (e.g. a front proxy's port). */
  readonly daemon: boolean;
}

/**
 * The addresses to examine: those given with --listen plus those the daemon reports, without repeats. With no
 * --listen, the daemon's own; with neither (daemon unreachable), `fallback` (the daemon's default, [::]:443).
 */
export function listenTargets(
  given: readonly ListenAddress[] | undefined,
  daemonListeners: readonly ListenAddress[] | undefined,
  fallback: ListenAddress,
): ListenTarget[] {
  const targets = new Map<string, ListenTarget>();
  for (const address of daemonListeners ?? []) targets.set(formatListenAddress(address), { address, daemon: true });
  for (const address of given ?? (daemonListeners === undefined ? [fallback] : [])) {
    const key = formatListenAddress(address);
    if (!targets.has(key)) targets.set(key, { address, daemon: false });
  }
  return [...targets.values()];
}

/** The distinct ports of the targets, in order. */
export function targetPorts(targets: readonly ListenTarget[]): number[] {
  return [...new Set(targets.map((t) => t.address.port))];
}

/**
 * Where to connect to reach a listener from this host: the loopback address of each family a wildcard accepts
 * (`[::]` is dual-stack), or the address itself.
 */
export function probeHosts(address: ListenAddress): string[] {
  if (address.host === '0.0.0.0') return ['127.0.0.1'];
  if (address.host === '::') return ['127.0.0.1', '::1'];
  return [address.host];
}
