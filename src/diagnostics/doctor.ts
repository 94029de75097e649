/**
 * `alpn-responder doctor`: the checklist of everything that would make the CA's validation fail, found before the
 * CA finds it. Runs the checks in the order their results feed each other (the dehydrated config may name the
 * control socket; the daemon's status names its listeners; the self-test tells whether a front proxy on a port
 * passes challenges on) and returns them in reading order.
 */
import { realpath } from 'node:fs/promises';
import os, { type NetworkInterfaceInfo } from 'node:os';
import path from 'node:path';
import { DEFAULT_LISTEN } from '../constants.js';
import { parseListenAddress, type ListenAddress } from '../net/listen-address.js';
import { checkBackends } from './backend-check.js';
import { CA_PORT, judgeCaPort } from './ca-port.js';
import type { Check } from './checklist.js';
import { probeControl } from './control-probe.js';
import { examineDehydratedConfig } from './dehydrated-config-files.js';
import { listenTargets, targetPorts } from './listen-targets.js';
import { probeLoopback } from './loopback-probe.js';
import { judgePort, type ListeningSocket } from './port-owner.js';
import { runSelfTest } from './self-test.js';
import { localAddresses, planSelfTest } from './self-test-plan.js';
import { readSocketTable } from './socket-table.js';
import { checkStateDirectory } from './state-dir-check.js';

/** What to examine. */
export interface DoctorOptions {
  readonly controlPath: string;
  /**
   * True when `controlPath` is only the built-in default: then a dehydrated config that exports
   * ALPN_RESPONDER_CONTROL names the socket the hook really uses, and that one is checked.
   */
  readonly controlPathIsDefault: boolean;
  /** Addresses to examine besides the daemon's own (e.g. a front proxy's port); undefined: the daemon's only. */
  readonly listen?: readonly ListenAddress[];
  /** dehydrated's config file; undefined: its usual paths. */
  readonly dehydratedConfig?: string;
  /** Control socket and port owners only, each bounded to {@link QUICK_TIMEOUT_MS}: for the hook's startup_hook. */
  readonly quick: boolean;
  /** The daemon's --backend values: each must be reachable and speak TLS (after a PROXY header with `backendProxyProtocol`). */
  readonly backends?: readonly string[];
  readonly backendProxyProtocol?: 'v1' | 'v2';
  /** The daemon's --state file: its directory must be writable by `user`. */
  readonly state?: string;
  /** The daemon's --user; undefined: it serves as the user running the doctor. */
  readonly user?: string;
  /** The port the CA connects to; default {@link CA_PORT} (443). Tests point it at an ephemeral port. */
  readonly caPort?: number;
  /** This host's interfaces; default `os.networkInterfaces()` (tests pass a host without IPv6). */
  readonly interfaces?: NodeJS.Dict<NetworkInterfaceInfo[]>;
}

/** Bound of each step in quick mode. */
const QUICK_TIMEOUT_MS = 2_000;
/** Bound of each network step otherwise (one control command, one connection, one validation). */
const TIMEOUT_MS = 5_000;

/**
 * The control socket the dehydrated config exports to the hook, when it is not the one checked: the hook deploys
 * there, so a socket that does not answer fails every validation however healthy the checked daemon is.
 */
async function hookControlChecks(hookPath: string, checkedPath: string, timeoutMs: number): Promise<Check[]> {
  const canonical = (p: string): Promise<string> => realpath(p).catch(() => path.resolve(p));
  if ((await canonical(hookPath)) === (await canonical(checkedPath))) return [];
  const probe = await probeControl(hookPath, timeoutMs);
  if (probe.status === undefined) {
    return [
      {
        id: 'dehydrated',
        status: 'fail',
        title: `dehydrated: the hook's deploy would fail: ALPN_RESPONDER_CONTROL names the ${probe.check.title}`,
        remedy: `Export the daemon's socket to the hook (export ALPN_RESPONDER_CONTROL=${checkedPath} in the dehydrated config), or start the daemon with --control ${hookPath}.`,
      },
    ];
  }
  return [
    {
      id: 'dehydrated',
      status: 'warn',
      title: `dehydrated: the hook deploys through ${hookPath} (ALPN_RESPONDER_CONTROL), another daemon than the one checked at ${checkedPath}`,
      remedy: `Check that daemon too: --control ${hookPath}; or export ALPN_RESPONDER_CONTROL=${checkedPath} in the dehydrated config.`,
    },
  ];
}

/** Runs the checks; never throws for what it finds, only for bugs. */
export async function runDoctor(options: DoctorOptions): Promise<Check[]> {
  const timeoutMs = options.quick ? QUICK_TIMEOUT_MS : TIMEOUT_MS;
  const config = options.quick ? undefined : await examineDehydratedConfig(options.dehydratedConfig);
  const controlPath = (options.controlPathIsDefault ? config?.controlPath : undefined) ?? options.controlPath;
  const control = await probeControl(controlPath, timeoutMs);
  const given = listenTargets(options.listen, control.status?.listeners, parseListenAddress(DEFAULT_LISTEN));
  const daemon = control.status === undefined ? undefined : { listeners: control.status.listeners };
  const caPort = options.caPort ?? CA_PORT;

  const [table, loopback] = await Promise.all([
    readSocketTable(timeoutMs),
    options.quick ? Promise.resolve([]) : probeLoopback(given, timeoutMs),
  ]);
  // When the daemon is not on the CA's port, whatever is there must pass acme-tls/1 on to it: the self-test goes
  // through it too (one target: the plan covers every socket on a target's port).
  const targets =
    options.quick || daemon === undefined || targetPorts(given).includes(caPort)
      ? given
      : [...given, ...table.sockets.filter((s) => s.port === caPort).slice(0, 1).map((s) => ({ address: { host: s.address, port: caPort }, daemon: false }))];
  const plan = planSelfTest(targets, table.sockets, localAddresses(options.interfaces ?? os.networkInterfaces()));
  const selfTest = options.quick || control.status === undefined ? undefined : await runSelfTest(controlPath, plan, table.sockets, timeoutMs);
  const verdicts = selfTest === undefined ? {} : { selfTest: (s: ListeningSocket) => selfTest.throughSocket(s) };
  const ports = [
    ...targetPorts(targets).flatMap((port) => judgePort({ port, ...table, daemon, ...verdicts })),
    ...judgeCaPort({ caPort, caOnThisHost: caPort !== CA_PORT, ...table, daemon, ...verdicts }),
  ];
  const state = options.state === undefined ? [] : [await checkStateDirectory(options.state, options.user)];
  if (options.quick) return [control.check, ...ports, ...state];
  const backends = await checkBackends({
    backends: options.backends ?? [],
    timeoutMs,
    ...(options.backendProxyProtocol === undefined ? {} : { proxyProtocol: options.backendProxyProtocol }),
  });
  const skippedSelfTest: Check[] =
    selfTest === undefined ? [{ id: 'self-test', status: 'info', title: 'self-test skipped: it needs the control socket' }] : [];
  const hookControl = config?.controlPath === undefined ? [] : await hookControlChecks(config.controlPath, controlPath, timeoutMs);
  return [control.check, ...ports, ...state, ...loopback, ...(selfTest?.checks ?? skippedSelfTest), ...backends, ...(config?.checks ?? []), ...hookControl];
}
