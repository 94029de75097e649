/**
 * Opens ioredis clients for a {@link RedisTarget} with the settings the store relies on: nothing waits for a
 * connection that is not there (no offline queue, no command retries, bounded connect and command times), and a
 * lost connection is retried forever with a capped, jittered backoff so a fleet does not reconnect in lock-step.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './redis-target.js';

/** A client of any topology: one server (directly or found through Sentinel) or a Cluster. */
export type RedisConnection = Redis | Cluster;

/** First reconnect delay; it doubles per failed attempt up to {@link RECONNECT_MAX_MS}. */
const RECONNECT_BASE_MS = 50;

/** Longest reconnect delay: a restarted Redis is found again within about this long. */
export const RECONNECT_MAX_MS = 2_000;

/** Delay before reconnect attempt `attempt` (1-based): exponential, capped, ±20 % jitter. */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(RECONNECT_BASE_MS * 2 ** Math.min(Math.max(attempt - 1, 0), 16), RECONNECT_MAX_MS);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * A new, not yet connected client (call `connect()`); `timeoutMs` bounds connecting and every command.
 * Subscriptions are not restored by ioredis: the store subscribes again itself and then reloads, so it knows
 * exactly when it is back in sync.
 */
export function createRedisConnection(target: RedisTarget, timeoutMs: number): RedisConnection {
  const common = {
    username: target.username,
    password: target.password,
    // Servername defaults to the host connected to, so the certificate is checked against that name.
    tls: target.tls ? {} : undefined,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    autoResubscribe: false,
    // The ready check needs INFO, which a least-privilege ACL leaves out; a Redis still loading its dataset answers
    // LOADING to the reload instead, which is retried like any failed reload.
    enableReadyCheck: false,
    lazyConnect: true,
  } satisfies RedisOptions;
  const retryStrategy = (attempt: number): number => reconnectDelay(attempt);
  switch (target.kind) {
    case 'standalone':
      return new Redis({ ...common, ...target.host, db: target.db, enableOfflineQueue: false, retryStrategy });
    case 'sentinel':
      return new Redis({
        ...common,
        sentinels: target.sentinels.map((s) => ({ ...s })),
        name: target.masterName,
        db: target.db,
        enableTLSForSentinelMode: target.tls,
        sentinelRetryStrategy: retryStrategy,
        enableOfflineQueue: false,
        retryStrategy,
      });
    case 'cluster':
      return new Cluster(
        target.nodes.map((n) => ({ ...n })),
        { redisOptions: common, lazyConnect: true, enableOfflineQueue: false, clusterRetryStrategy: retryStrategy },
      );
  }
}
