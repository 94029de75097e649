import path from 'node:path';
import type { DaemonOptions } from '../../src/daemon.js';
import { parseBackends } from '../../src/net/backends.js';

/**
 * Options for an in-process test daemon: loopback listeners on ephemeral ports, the control socket in `dir`,
 * short timeouts. Tests override only what they exercise, so a new daemon option needs a default here only.
 */
export function testDaemonOptions(dir: string, overrides: Partial<DaemonOptions> = {}): DaemonOptions {
  return {
    listen: [
      { host: '127.0.0.1', port: 0 },
      { host: '::1', port: 0 },
    ],
    controlPath: path.join(dir, 'control.sock'),
    controlMode: 0o660,
    controlGid: undefined,
    ttlSeconds: 3600,
    maxChallenges: 100,
    maxHelloBytes: 32 * 1024,
    helloTimeoutMs: 2000,
    handshakeTimeoutMs: 2000,
    backends: parseBackends([]),
    backendProxyProtocol: undefined,
    acceptProxyProtocol: false,
    backendConnectTimeoutMs: 2000,
    idleTimeoutMs: 10_000,
    maxConnections: 4096,
    maxConnectionsPerSource: 4096,
    handshakeRate: 20,
    handshakeBurst: 200,
    maxControlConnections: 64,
    controlCommandsPerSecond: 1000,
    maxControlLine: 4096,
    shutdownTimeoutMs: 2000,
    statePath: undefined,
    store: undefined,
    watchDir: undefined,
    runAs: undefined,
    workers: 1,
    logLevel: 'info',
    ...overrides,
  };
}
