/**
 * Opens the store `--store` names, applying `--store-fallback`: a daemon that cannot reach Redis at start either
 * refuses to start or, when told so, serves from memory what is deployed on it — loudly, because it has then left
 * the fleet.
 */
import { hasCode } from '../errors.js';
import type { Logger } from '../log.js';
import type { ChallengeStore } from './challenge-store.js';
import { MemoryChallengeStore } from './memory-store.js';
import type { SharedStoreConfig } from './store-config.js';

/**
 * The Redis store, or with `--store-fallback memory` and Redis unreachable, a memory store that logs every deploy
 * as not shared. The fallback lasts until the daemon is restarted: joining the fleet later could resurrect
 * challenges cleaned elsewhere meanwhile.
 *
 * @throws AlpnResponderError ERR_STORE_UNREACHABLE (without the fallback) or ERR_STORE_DENIED.
 */
export async function openSharedStore(
  config: SharedStoreConfig,
  options: { readonly maxChallenges: number; readonly log: Logger },
): Promise<ChallengeStore> {
  const { log, maxChallenges } = options;
  try {
    // Loaded only with --store: the Redis client alone adds about 25 MiB to every daemon's memory.
    const { RedisChallengeStore } = await import('./redis-store.js');
    return await RedisChallengeStore.open({ ...config, maxChallenges, log });
  } catch (error) {
    // Wrong credentials or a missing ACL are configuration errors: falling back would hide them.
    if (config.fallback !== 'memory' || !hasCode(error, 'ERR_STORE_UNREACHABLE')) throw error;
    log.log('error', 'store-fallback', {
      store: config.target.display,
      error: error.message,
      fallback: 'memory',
      detail: 'NOT SHARED: only challenges deployed on this node are served, and only by it; restart the daemon once Redis is back',
    });
    const memory = new MemoryChallengeStore({ maxChallenges });
    memory.on('put', (challenge) =>
      log.log('warn', 'store-fallback-deploy', {
        sni: challenge.identifier.sni,
        detail: 'held by this node only: Redis was unreachable when the daemon started',
      }),
    );
    return memory;
  }
}
