/**
 * A {@link ChallengeStore} that several daemons share through Redis, so a challenge deployed on any node is served by
 * every node.
 *
 * Redis holds one key per challenge, its TTL the challenge's. Every write is a MULTI of the key change and a PUBLISH
 * of the same change on the fleet's channel, so messages arrive in the order Redis applied the writes. Each daemon
 * keeps a local mirror (a {@link MemoryChallengeStore}: lookups stay synchronous, the certificate cache keeps its
 * prebuilt certificates, entries expire by their own TTL even if no message says so) and changes it only from that
 * channel — its own writes included — so every mirror applies the same changes in the same order. Keyspace
 * notifications are not needed (managed Redis often has them off).
 *
 * After every (re)connection the daemon subscribes, then reloads the whole set (SCAN, bounded) and makes the mirror
 * equal to Redis; until then `deploy` and `clean` are refused with ERR_STORE_UNAVAILABLE while the mirror keeps
 * serving what it holds.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { ChainableCommander, Redis } from 'ioredis';
import { bytesEqual } from '../bytes.js';
import type { Identifier } from '../challenge/identifier.js';
import { AlpnResponderError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Challenge } from '../challenge/challenge.js';
import type { ChallengeStore, ChallengeStoreEvents } from './challenge-store.js';
import { MemoryChallengeStore } from './memory-store.js';
import { createRedisConnection, reconnectDelay, type RedisConnection } from './redis-connection.js';
import {
  decodeMessage,
  decodeRecord,
  encodeMessage,
  encodeRecord,
  isValidTtlMs,
  type ChallengeRecord,
} from './redis-records.js';
import type { RedisTarget } from './redis-target.js';

/** Options of {@link RedisChallengeStore.open}. */
export interface RedisStoreOptions {
  readonly target: RedisTarget;
  /** Starts every key and the channel name, so several fleets can share one Redis. */
  readonly prefix: string;
  /** Bounds connecting, every command, and the wait for a write's own message to come back. */
  readonly timeoutMs: number;
  /** Most challenges held at once, as for the memory store; also bounds how many a reload takes. */
  readonly maxChallenges: number;
  readonly log: Logger;
}

/** Keys asked for per SCAN call. */
const SCAN_COUNT = 500;
/** Most SCAN calls per reload (over all Cluster masters): bounds a reload of a Redis full of other keys. */
const MAX_SCAN_CALLS = 20_000;
/** Bad records logged one by one per reload; the rest are only counted. */
const BAD_RECORDS_LOGGED = 10;
/** Longest Redis key quoted in a log line. */
const KEY_QUOTE_LIMIT = 200;

/** Waits for a write's own message. */
interface Waiter {
  resolve(challenge: Challenge | undefined): void;
  reject(error: unknown): void;
  readonly timer: NodeJS.Timeout;
}

/** What a reload found in Redis. */
interface Scan {
  readonly found: Map<string, { readonly record: ChallengeRecord; readonly ttlMs: number }>;
  /** Records beyond --max-challenges. */
  dropped: number;
  /** Keys under the prefix whose value or TTL is not one a daemon writes. */
  bad: number;
}

const GLOB_SPECIAL = /[*?[\]\\]/g;

function newWriteId(): string {
  return randomBytes(8).toString('hex');
}

/** The texts of an error and of the queued-command errors an aborted MULTI carries. */
function errorTexts(error: unknown): string[] {
  const previous = (error as { previousErrors?: unknown } | null)?.previousErrors;
  const nested = Array.isArray(previous) ? previous.map((e) => String((e as Error)?.message ?? e)) : [];
  return [error instanceof Error ? error.message : String(error), ...nested];
}

/** Credentials refused, or an ACL that lacks a command, key or channel: retrying will not help. */
function isDenied(error: unknown): boolean {
  return errorTexts(error).some((text) => /^(?:NOPERM|WRONGPASS|NOAUTH)\b|^ERR AUTH\b/.test(text));
}

function describe(error: unknown): string {
  return [...new Set(errorTexts(error))].join('; ');
}

/** Challenges in a Redis shared by several daemons; see the module comment. */
export class RedisChallengeStore extends EventEmitter<ChallengeStoreEvents> implements ChallengeStore {
  readonly #mirror: MemoryChallengeStore;
  /** Per SNI, the write the mirror holds: a message or reload naming it again changes nothing. */
  readonly #writeIds = new Map<string, string>();
  /** This daemon's writes whose message has not come back yet, by write id. */
  readonly #waiters = new Map<string, Waiter>();
  readonly #client: RedisConnection;
  readonly #subscriber: RedisConnection;
  readonly #target: RedisTarget;
  readonly #keyPrefix: string;
  readonly #channel: string;
  readonly #match: string;
  readonly #timeoutMs: number;
  readonly #maxChallenges: number;
  readonly #log: Logger;
  #subscribed = false;
  /** True once a reload finished on the current connections: writes are accepted only then. */
  #synced = false;
  /** Bumped by every reload and every lost connection, so a reload that was overtaken stops. */
  #syncRun = 0;
  /** SNIs changed by messages while a reload runs: what it read for them may already be stale. */
  #touched: Set<string> | undefined;
  #syncTimer: NodeJS.Timeout | undefined;
  #syncFailures = 0;
  #lastError: unknown;
  /** After a successful start: connection events drive reloads. */
  #running = false;
  #closed = false;

  private constructor(options: RedisStoreOptions) {
    super();
    this.#target = options.target;
    this.#keyPrefix = `${options.prefix}challenge:`;
    this.#channel = `${options.prefix}events`;
    this.#match = `${this.#keyPrefix.replace(GLOB_SPECIAL, '\\$&')}*`;
    this.#timeoutMs = options.timeoutMs;
    this.#maxChallenges = options.maxChallenges;
    this.#log = options.log;
    this.#mirror = new MemoryChallengeStore({ maxChallenges: options.maxChallenges });
    this.#mirror.on('put', (challenge) => this.emit('put', challenge));
    this.#mirror.on('delete', (sni, reason) => {
      this.#writeIds.delete(sni);
      this.emit('delete', sni, reason);
    });
    this.#mirror.on('stack', (sni) => this.emit('stack', sni));
    this.#client = createRedisConnection(options.target, options.timeoutMs);
    this.#subscriber = createRedisConnection(options.target, options.timeoutMs);
    for (const connection of [this.#client, this.#subscriber]) {
      connection.on('error', (error: unknown) => {
        this.#lastError = error;
        this.#log.log('debug', 'store-error', { store: this.#target.display, error: describe(error) });
      });
      connection.on('close', () => {
        if (connection === this.#subscriber) this.#subscribed = false;
        this.#connectionLost();
      });
      connection.on('ready', () => this.#scheduleSync('reconnect', 0));
    }
    this.#subscriber.on('message', (channel: string, text: string) => this.#onMessage(channel, text));
  }

  /**
   * Connects, subscribes and loads every challenge Redis holds under the prefix.
   *
   * @throws AlpnResponderError ERR_STORE_UNREACHABLE when Redis cannot be reached (or does not answer in time),
   *   ERR_STORE_DENIED when it refuses the credentials or the ACL lacks a permission.
   */
  static async open(options: RedisStoreOptions): Promise<RedisChallengeStore> {
    const store = new RedisChallengeStore(options);
    try {
      await Promise.all([store.#client.connect(), store.#subscriber.connect()]);
      await store.#subscribe();
      await store.#resync('start');
    } catch (error) {
      await store.close();
      // ioredis rejects connect() with a bare "Connection is closed."; the 'error' event said why.
      const cause = store.#lastError ?? error;
      if (isDenied(error) || isDenied(cause)) {
        throw new AlpnResponderError('ERR_STORE_DENIED', `Redis at ${options.target.display} refused this daemon: ${describe(isDenied(error) ? error : cause)}`, { cause });
      }
      throw new AlpnResponderError('ERR_STORE_UNREACHABLE', `cannot use Redis at ${options.target.display}: ${describe(cause)}`, { cause });
    }
    store.#running = true;
    return store;
  }

  get size(): number {
    return this.#mirror.size;
  }

  /** Resolves once Redis holds the challenge and this daemon's mirror has it too. */
  async put(identifier: Identifier, digest: Uint8Array, ttlSeconds: number): Promise<Challenge> {
    this.#requireAvailable();
    if (this.#mirror.get(identifier.sni) === undefined && this.#mirror.size >= this.#maxChallenges) {
      throw new AlpnResponderError(
        'ERR_TOO_MANY_CHALLENGES',
        `${this.#mirror.size} challenges are deployed, the most allowed; clean some or raise --max-challenges`,
      );
    }
    const record: ChallengeRecord = { id: newWriteId(), identifier, digest: Uint8Array.from(digest) };
    const ttlMs = Math.max(1, Math.round(ttlSeconds * 1000));
    const applied = this.#expect(record.id);
    try {
      await this.#exec(
        this.#client
          .multi()
          .set(this.#keyFor(identifier.sni), encodeRecord(record), 'PX', ttlMs)
          .publish(this.#channel, encodeMessage({ op: 'put', ...record, ttlMs })),
      );
    } catch (error) {
      this.#forget(record.id);
      throw this.#writeError(error, `deploying ${identifier.sni}`);
    }
    const challenge = await applied;
    if (challenge === undefined) throw new AlpnResponderError('ERR_INTERNAL', `the deploy of ${identifier.sni} came back as a removal`);
    return challenge;
  }

  /**
   * Resolves once Redis no longer holds the challenge (or, with a digest, that deploy) and neither does this daemon's
   * mirror. Removing the newest of several deploys sets the key to the one served next.
   */
  async delete(sni: string, digest?: Uint8Array): Promise<boolean> {
    this.#requireAvailable();
    const stack = this.#mirror.stack(sni);
    if (digest !== undefined && !stack.some((challenge) => bytesEqual(challenge.digest, digest))) return false;
    const wasServed = stack.length > 0;
    const id = newWriteId();
    const applied = this.#expect(id);
    const key = this.#keyFor(sni);
    const transaction = this.#client.multi();
    const next = digest === undefined ? undefined : stack.filter((challenge) => !bytesEqual(challenge.digest, digest)).at(-1);
    if (digest === undefined || next === undefined) transaction.del(key);
    else if (bytesEqual(stack.at(-1)!.digest, digest)) {
      const ttlMs = Math.max(1, Math.round(next.expiresAt.getTime() - Date.now()));
      transaction.set(key, encodeRecord({ id, identifier: next.identifier, digest: next.digest }), 'PX', ttlMs);
    } else {
      // An older deploy: the key, which holds the newest, stays as it is.
      transaction.pttl(key);
    }
    let removed: boolean;
    try {
      const replies = await this.#exec(transaction.publish(this.#channel, encodeMessage({ op: 'delete', id, sni, digest })));
      removed = digest !== undefined || replies[0] === 1;
    } catch (error) {
      this.#forget(id);
      throw this.#writeError(error, `cleaning ${sni}`);
    }
    await applied;
    // A name only this mirror still held (Redis lost it) was removed too, from the caller's point of view.
    return removed || wasServed;
  }

  get(sni: string): Challenge | undefined {
    return this.#mirror.get(sni);
  }

  list(): Challenge[] {
    return this.#mirror.list();
  }

  listAll(): Challenge[] {
    return this.#mirror.listAll();
  }

  /** Disconnects and stops the timers; idempotent. Deploys still waiting are refused. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#running = false;
    this.#connectionLost();
    clearTimeout(this.#syncTimer);
    this.#client.disconnect();
    this.#subscriber.disconnect();
    await this.#mirror.close();
  }

  #keyFor(sni: string): string {
    return `${this.#keyPrefix}${sni}`;
  }

  #requireAvailable(): void {
    // ioredis reports a lost connection a tick late; its status already knows.
    if (this.#synced && !this.#closed && this.#client.status === 'ready') return;
    throw this.#unavailable(this.#lastError === undefined ? 'reconnecting' : describe(this.#lastError));
  }

  #unavailable(reason: string, options?: { cause?: unknown }): AlpnResponderError {
    return new AlpnResponderError(
      'ERR_STORE_UNAVAILABLE',
      `Redis at ${this.#target.display} is unavailable (${reason}); challenges already deployed are still served; retry once it is back`,
      options,
    );
  }

  #writeError(error: unknown, what: string): AlpnResponderError {
    if (error instanceof AlpnResponderError) return error;
    if (isDenied(error)) {
      return new AlpnResponderError('ERR_STORE_DENIED', `Redis at ${this.#target.display} refused ${what}: ${describe(error)}`, { cause: error });
    }
    return this.#unavailable(`${what}: ${describe(error)}`, { cause: error });
  }

  /** Runs a MULTI; resolves with each command's reply, rejects on the first error. */
  async #exec(transaction: ChainableCommander): Promise<unknown[]> {
    const results = await transaction.exec();
    if (results === null) throw new Error('the transaction was aborted');
    return results.map(([error, reply]) => {
      if (error) throw error;
      return reply;
    });
  }

  /** Registers a write before it is sent, so its message cannot come back unseen. */
  #expect(id: string): Promise<Challenge | undefined> {
    const applied = new Promise<Challenge | undefined>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(id);
        reject(this.#unavailable(`the change was sent but its message did not come back within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      timer.unref();
      this.#waiters.set(id, { resolve, reject, timer });
    });
    // The wait may time out while the command itself is still pending; the caller sees it once it awaits this.
    applied.catch(() => undefined);
    return applied;
  }

  #forget(id: string): void {
    const waiter = this.#waiters.get(id);
    if (waiter === undefined) return;
    clearTimeout(waiter.timer);
    this.#waiters.delete(id);
  }

  #subscribe(): Promise<void> {
    return this.#subscriber.subscribe(this.#channel).then(() => void (this.#subscribed = true));
  }

  /** A connection closed: stop accepting writes until both are back and a reload has run. */
  #connectionLost(): void {
    this.#syncRun++;
    this.#touched = undefined;
    const wasSynced = this.#synced;
    this.#synced = false;
    for (const [id, waiter] of this.#waiters) {
      this.#forget(id);
      waiter.reject(this.#unavailable('the connection was lost'));
    }
    if (wasSynced && this.#running) {
      this.#log.log('warn', 'store-unavailable', {
        store: this.#target.display,
        error: this.#lastError === undefined ? undefined : describe(this.#lastError),
        challenges: this.#mirror.size,
        detail: 'serving the challenges held; deploy and clean are refused until Redis is back',
      });
    }
  }

  #scheduleSync(reason: string, delayMs: number): void {
    if (!this.#running) return;
    clearTimeout(this.#syncTimer);
    this.#syncTimer = setTimeout(() => void this.#sync(reason), delayMs);
    this.#syncTimer.unref();
  }

  /** Subscribes again if needed and reloads; a failure is retried with backoff while the connections are up. */
  async #sync(reason: string): Promise<void> {
    // The other connection's 'ready' schedules this again.
    if (this.#client.status !== 'ready' || this.#subscriber.status !== 'ready') return;
    try {
      if (!this.#subscribed) await this.#subscribe();
      if (await this.#resync(reason)) this.#syncFailures = 0;
    } catch (error) {
      if (!this.#running) return;
      this.#lastError = error;
      const retryMs = reconnectDelay(++this.#syncFailures);
      this.#log.log('warn', 'store-sync-failed', { store: this.#target.display, error: describe(error), retry_ms: retryMs });
      this.#scheduleSync('retry', retryMs);
    }
  }

  /**
   * Makes the mirror equal to Redis. Resolves false when a newer reload or a lost connection overtook it.
   * Messages keep being applied meanwhile; names they touch keep what the message said.
   */
  async #resync(reason: string): Promise<boolean> {
    const run = ++this.#syncRun;
    const started = performance.now();
    this.#synced = false;
    const touched = new Set<string>();
    this.#touched = touched;
    const scan = await this.#scan(run);
    if (run !== this.#syncRun) return false;
    let removed = 0;
    for (const [sni, { record, ttlMs }] of scan.found) {
      if (!touched.has(sni) && this.#applyPut(record, ttlMs) === undefined) scan.dropped++;
    }
    for (const challenge of this.#mirror.list()) {
      const sni = challenge.identifier.sni;
      if (scan.found.has(sni) || touched.has(sni)) continue;
      // The memory store removes synchronously inside delete(); nothing to wait for.
      void this.#mirror.delete(sni);
      removed++;
    }
    this.#touched = undefined;
    this.#synced = true;
    this.#lastError = undefined;
    this.#log.log(scan.dropped > 0 || scan.bad > 0 ? 'warn' : 'info', 'store-synced', {
      store: this.#target.display,
      reason,
      challenges: this.#mirror.size,
      removed,
      // More challenges in Redis than --max-challenges allows here: those are not served by this node.
      dropped: scan.dropped > 0 ? scan.dropped : undefined,
      bad: scan.bad > 0 ? scan.bad : undefined,
      ms: (performance.now() - started).toFixed(1),
    });
    return true;
  }

  /** Every challenge under the prefix, with its remaining TTL; at most --max-challenges of them. */
  async #scan(run: number): Promise<Scan> {
    const scan: Scan = { found: new Map(), dropped: 0, bad: 0 };
    const nodes: Redis[] = 'nodes' in this.#client ? this.#client.nodes('master') : [this.#client];
    let calls = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        if (++calls > MAX_SCAN_CALLS) throw new Error(`the reload needed more than ${MAX_SCAN_CALLS} SCAN calls; use a Redis database of its own`);
        const [next, keys] = await node.scan(cursor, 'MATCH', this.#match, 'COUNT', SCAN_COUNT);
        if (run !== this.#syncRun) return scan;
        if (!/^\d{1,20}$/.test(next)) throw new Error(`SCAN answered the cursor ${JSON.stringify(next).slice(0, 40)}`);
        cursor = next;
        if (keys.length > 0) await this.#read(node, keys, scan);
      } while (cursor !== '0');
    }
    return scan;
  }

  /** Reads the values and TTLs of `keys` into `scan`. */
  async #read(node: Redis, keys: readonly string[], scan: Scan): Promise<void> {
    const pipeline = node.pipeline();
    for (const key of keys) pipeline.get(key).pttl(key);
    const replies = (await pipeline.exec()) ?? [];
    keys.forEach((key, index) => {
      const [valueError, value] = replies[index * 2] ?? [new Error('no reply')];
      const [ttlError, ttl] = replies[index * 2 + 1] ?? [new Error('no reply')];
      if (valueError) throw valueError;
      if (ttlError) throw ttlError;
      // Expired or removed between SCAN and GET.
      if (value === null || ttl === -2) return;
      const reason = this.#checkEntry(key, value, ttl);
      if (typeof reason === 'string') {
        if (++scan.bad <= BAD_RECORDS_LOGGED) {
          this.#log.log('warn', 'store-bad-record', { store: this.#target.display, key: key.slice(0, KEY_QUOTE_LIMIT), reason });
        }
        return;
      }
      if (scan.found.has(reason.record.identifier.sni)) return;
      if (scan.found.size >= this.#maxChallenges) {
        scan.dropped++;
        return;
      }
      scan.found.set(reason.record.identifier.sni, reason);
    });
  }

  /** A challenge key's entry, or why it is not one a daemon wrote. */
  #checkEntry(key: string, value: unknown, ttl: unknown): { record: ChallengeRecord; ttlMs: number } | string {
    if (typeof value !== 'string') return 'the value is not a string';
    const decoded = decodeRecord(value);
    if (!decoded.ok) return decoded.reason;
    if (key !== this.#keyFor(decoded.value.identifier.sni)) return `the key does not match the identifier ${decoded.value.identifier.sni}`;
    if (ttl === -1) return 'the key has no TTL';
    if (!isValidTtlMs(ttl)) return `the TTL ${JSON.stringify(ttl)} ms is not one a daemon writes`;
    return { record: decoded.value, ttlMs: ttl };
  }

  #onMessage(channel: string, text: string): void {
    if (channel !== this.#channel) return;
    const decoded = decodeMessage(text);
    if (!decoded.ok) {
      this.#log.log('warn', 'store-bad-record', { store: this.#target.display, channel, reason: decoded.reason });
      return;
    }
    const message = decoded.value;
    const sni = message.op === 'put' ? message.identifier.sni : message.sni;
    this.#touched?.add(sni);
    const waiter = this.#waiters.get(message.id);
    this.#forget(message.id);
    if (message.op === 'delete') {
      const served = this.#mirror.get(sni);
      // The memory store removes synchronously inside delete(); nothing to wait for.
      void this.#mirror.delete(sni, message.digest);
      // The newest was removed: the key now holds the deploy served next, written with this message's id.
      const next = this.#mirror.get(sni);
      if (next !== undefined && next !== served) this.#writeIds.set(sni, message.id);
      waiter?.resolve(undefined);
      return;
    }
    const challenge = this.#applyPut(message, message.ttlMs);
    if (challenge !== undefined) {
      waiter?.resolve(challenge);
      return;
    }
    const full = new AlpnResponderError(
      'ERR_TOO_MANY_CHALLENGES',
      `${this.#mirror.size} challenges are deployed, the most allowed; clean some or raise --max-challenges on every node`,
    );
    if (waiter !== undefined) waiter.reject(full);
    else this.#log.log('warn', 'store-full', { store: this.#target.display, sni, error: full.message, detail: 'not served by this node' });
  }

  /**
   * Puts a record into the mirror unless it holds that very write already; returns what the mirror now serves for
   * the name, or undefined when the mirror is full (--max-challenges) and the name is new.
   */
  #applyPut(record: ChallengeRecord, ttlMs: number): Challenge | undefined {
    const sni = record.identifier.sni;
    const current = this.#mirror.get(sni);
    if (current !== undefined && this.#writeIds.get(sni) === record.id) return current;
    if (current === undefined && this.#mirror.size >= this.#maxChallenges) return undefined;
    // The memory store changes synchronously inside put() and, the name fitting, cannot refuse it: the mirror
    // follows Redis in message order.
    void this.#mirror.put(record.identifier, record.digest, ttlMs / 1000);
    const stored = this.#mirror.get(sni);
    if (stored !== undefined) this.#writeIds.set(sni, record.id);
    return stored;
  }
}
