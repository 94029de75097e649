/**
 * A real redis-server for tests: its own temp dir, a loopback port picked at run time, no persistence (so a restart
 * on the same port comes back empty), stopped in teardown.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { cleanEnv, freePort, GiveUp, REPO_ROOT, spawnManaged, waitUntil, type ManagedProcess } from './daemon.js';

/** Binaries {@link startRedis} needs. */
export const REDIS_PEERS = ['redis-server'] as const;

/** A running redis-server. */
export interface RedisServer {
  readonly port: number;
  readonly process: ManagedProcess;
  /** `redis://[USERINFO@]127.0.0.1:PORT/DB`. */
  url(userinfo?: string, db?: number): string;
  /** A client for the test itself (full rights), closed by {@link RedisServer.stop}. */
  admin(): Redis;
  /** SIGKILL, like a crash; resolves once it has exited. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts redis-server on `port` (a free one when absent) with `dir` as its working directory; `extra` are more
 * `--name value` settings (a replica, cluster mode). With `sentinel`, `dir/sentinel.conf` is its (writable) config.
 */
export async function startRedis(dir: string, port?: number, extra: readonly string[] = [], sentinel = false): Promise<RedisServer> {
  const bound = port ?? (await freePort());
  const args = ['--save', '', '--appendonly', 'no', '--port', String(bound), '--bind', '127.0.0.1', '--dir', dir, ...extra];
  const proc = spawnManaged('redis-server', 'redis-server', sentinel ? [path.join(dir, 'sentinel.conf'), '--sentinel', ...args.slice(4)] : args, {
    cwd: dir,
    env: cleanEnv(),
  });
  try {
    await waitUntil('redis-server ready', () => {
      if (proc.exitState() !== undefined) throw new GiveUp(`redis-server exited (${proc.exitState()})`);
      return /Ready to accept connections|Sentinel ID is/.test(proc.output()) || undefined;
    });
  } catch (error) {
    await proc.stop();
    throw new Error(`${(error as Error).message}\n--- redis-server ---\n${proc.output()}`);
  }
  const clients: Redis[] = [];
  const closeClients = (): void => {
    for (const client of clients.splice(0)) client.disconnect();
  };
  return {
    port: bound,
    process: proc,
    url: (userinfo, db = 0) => `redis://${userinfo === undefined ? '' : `${userinfo}@`}127.0.0.1:${bound}/${db}`,
    admin() {
      const client = new Redis({ port: bound, host: '127.0.0.1', maxRetriesPerRequest: 1 });
      clients.push(client);
      return client;
    },
    async kill() {
      closeClients();
      proc.child.kill('SIGKILL');
      await proc.exited;
    },
    async stop() {
      closeClients();
      await proc.stop();
    },
  };
}

/**
 * The `ACL SETUSER` line docs/cluster.md tells operators to run, as arguments (shell quotes removed, the placeholder
 * password replaced), so the tests grant exactly what the documentation says.
 */
export async function documentedAcl(password: string): Promise<string[]> {
  const text = await readFile(path.join(REPO_ROOT, 'docs', 'cluster.md'), 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('redis-cli ACL SETUSER '));
  if (line === undefined) throw new Error('docs/cluster.md has no `redis-cli ACL SETUSER …` line');
  return line
    .slice('redis-cli ACL SETUSER '.length)
    .split(/\s+/)
    .map((word) => word.replace(/^'(.*)'$/, '$1').replace('>CHANGE-ME', `>${password}`));
}

/**
 * Starts a Sentinel watching the master on `masterPort` as `mymaster`, quorum 1, quick to declare it down, so a
 * failover takes a few seconds.
 */
export async function startSentinel(dir: string, masterPort: number): Promise<RedisServer> {
  await writeFile(
    path.join(dir, 'sentinel.conf'),
    [
      `sentinel monitor mymaster 127.0.0.1 ${masterPort} 1`,
      'sentinel down-after-milliseconds mymaster 500',
      'sentinel failover-timeout mymaster 5000',
      '',
    ].join('\n'),
  );
  return startRedis(dir, undefined, [], true);
}
