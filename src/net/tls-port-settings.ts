/**
 * The settings of the TLS port as one serving process applies them — the daemon's own with `--workers 1`, or each
 * worker's (sent over IPC, so plain JSON) — and the connection handler's options made from them.
 */
import type { Logger } from '../log.js';
import { parseBackends } from './backends.js';
import type { ConnectionHandlerOptions } from './connection-handler.js';
import type { ReadyChallenge } from './context-table.js';

/**
 * The serve options (config/serve-options.ts) a serving process needs, all of which a reload (SIGHUP) may change.
 * With workers, both connection limits are already divided among them (the handshake rate and burst are not:
 * each process keeps its own buckets); the `--backend` values are parsed again by each process.
 */
export interface WireConnectionSettings {
  readonly backends: readonly string[];
  readonly backendProxyProtocol: 'v1' | 'v2' | undefined;
  readonly acceptProxyProtocol: boolean;
  readonly maxHelloBytes: number;
  readonly helloTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly backendConnectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerSource: number;
  readonly handshakeRate: number;
  readonly handshakeBurst: number;
}

/** The connection handler's options from the TLS-port settings. */
export function connectionHandlerOptions(
  settings: WireConnectionSettings,
  lookup: (sni: string) => ReadyChallenge | undefined,
  log: Logger,
): ConnectionHandlerOptions {
  return {
    lookup,
    log,
    backends: parseBackends(settings.backends),
    hello: { maxBytes: settings.maxHelloBytes, timeoutMs: settings.helloTimeoutMs },
    limits: { maxConnections: settings.maxConnections, maxPerSource: settings.maxConnectionsPerSource },
    handshakeRate: { perSecond: settings.handshakeRate, burst: settings.handshakeBurst },
    handshakeTimeoutMs: settings.handshakeTimeoutMs,
    acceptProxyProtocol: settings.acceptProxyProtocol,
    backendProxyProtocol: settings.backendProxyProtocol,
    backendConnectTimeoutMs: settings.backendConnectTimeoutMs,
    idleTimeoutMs: settings.idleTimeoutMs,
  };
}
