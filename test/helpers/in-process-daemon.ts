import type { Test } from 'tap';
import { sendCommands } from '../../src/control/client.js';
import { Daemon, type DaemonOptions } from '../../src/daemon.js';
import type { Logger, LogValue } from '../../src/log.js';
import { dehydratedDigestOf } from './ca-check.js';
import { testDaemonOptions } from './daemon-options.js';
import type { Endpoint } from './nginx.js';
import { shortTempDir } from './tmp.js';

/** A daemon started with {@link startInProcessDaemon}. */
export interface InProcessDaemon {
  readonly daemon: Daemon;
  /** Listen addresses in the order given, with the ports bound. */
  readonly endpoints: readonly Endpoint[];
  /** Fields of every `connection` event logged so far, in order (logged when a connection ends). */
  readonly connections: Record<string, LogValue>[];
  /** Deploys a challenge for `name` with the digest of {@link dehydratedDigestOf}; throws unless the daemon answers OK. */
  deploy(name: string): Promise<void>;
}

/**
 * `Daemon.start` with {@link testDaemonOptions} (loopback, no backend, the control socket in a fresh temporary
 * directory) and `overrides`; closed on teardown. Every log event also goes to `log`, when given.
 */
export async function startInProcessDaemon(t: Test, overrides: Partial<DaemonOptions> = {}, log?: Logger): Promise<InProcessDaemon> {
  const connections: Record<string, LogValue>[] = [];
  const daemon = await Daemon.start(testDaemonOptions(shortTempDir(t), overrides), {
    log(level, event, fields) {
      if (event === 'connection') connections.push({ ...fields });
      log?.log(level, event, fields);
    },
  });
  t.teardown(() => daemon.close());
  return {
    daemon,
    endpoints: daemon.listeners.addresses.map(({ host, port }) => ({ host, port })),
    connections,
    async deploy(name) {
      const [reply] = await sendCommands(daemon.control.path, [`deploy ${name} ${dehydratedDigestOf(name)}`]);
      if (!reply?.final.ok) throw new Error(`deploy ${name}: ${JSON.stringify(reply?.final)}`);
    },
  };
}
