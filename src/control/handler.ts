import { performance } from 'node:perf_hooks';
import { digestToHex, parseAuthorization } from '../challenge/authorization.js';
import { bytesEqual } from '../bytes.js';
import { formatIdentifier, parseIdentifier } from '../challenge/identifier.js';
import { AlpnResponderError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Activity } from '../net/activity.js';
import type { CertificateCache } from '../store/certificate-cache.js';
import type { Challenge } from '../challenge/challenge.js';
import type { ChallengeStore } from '../store/challenge-store.js';
import { COMMAND_USAGE, formatErrorReply, parseCommand, type Command } from './protocol.js';
import type { LineHandler } from './server.js';

/** Facts `status` reports that do not depend on traffic. */
export interface StatusSnapshot {
  readonly version: string;
  readonly uptimeSeconds: number;
  readonly listeners: readonly string[];
  /** Processes serving the TLS port now (`--workers`; fewer while one is being replaced). */
  readonly workers: number;
}

/** What the command handler works on. */
export interface CommandContext {
  readonly store: ChallengeStore;
  readonly cache: CertificateCache;
  /** Lifetime of a deploy that names none; read per deploy, so a reload applies at once. */
  readonly defaultTtlSeconds: () => number;
  readonly log: Logger;
  readonly status: () => StatusSnapshot;
  /** Counters from the processes serving the TLS port; asked for by `list` and `status` only. */
  readonly activity: () => Promise<Activity>;
  /** The challenges served from `--watch-dir` (absent: none watched). */
  readonly watched?: () => readonly Challenge[];
}

async function deploy(context: CommandContext, identifierText: string, authorization: string, ttl: number | undefined) {
  const started = performance.now();
  const identifier = parseIdentifier(identifierText);
  const digest = parseAuthorization(authorization);
  const ttlSeconds = ttl ?? context.defaultTtlSeconds();
  const challenge = await context.store.put(identifier, digest, ttlSeconds);
  // Served means: this digest is what the name serves once its certificate is up. An identical deploy running in
  // parallel serves the same digest, so it is no reason to fail.
  const serving = (): boolean => {
    const served = context.store.get(identifier.sni);
    return served !== undefined && bytesEqual(served.digest, digest);
  };
  try {
    await context.cache.whenReady(identifier.sni, digest);
    if (!serving()) {
      throw new AlpnResponderError('ERR_CERTIFICATE', `the challenge for ${identifier.sni} was cleaned or replaced while its certificate was being built`);
    }
  } catch (error) {
    // A deploy that can never be served must not linger and look deployed in `list`.
    if (serving()) await context.store.delete(identifier.sni, digest);
    throw error;
  }
  context.log.log('info', 'deploy', {
    identifier: formatIdentifier(identifier),
    sni: identifier.sni,
    sha256: digestToHex(digest),
    ttl: ttlSeconds,
    ms: (performance.now() - started).toFixed(1),
  });
  return { identifier, challenge };
}

/** Removes every deploy of the name, or with an authorization only that one (the previous is served again). */
async function clean(context: CommandContext, identifierText: string, authorization: string | undefined) {
  const identifier = parseIdentifier(identifierText);
  const digest = authorization === undefined ? undefined : parseAuthorization(authorization);
  const removed = await context.store.delete(identifier.sni, digest);
  const served = context.store.get(identifier.sni);
  context.log.log('info', 'clean', {
    identifier: formatIdentifier(identifier),
    sni: identifier.sni,
    sha256: digest === undefined ? undefined : digestToHex(digest),
    removed,
    // With a digest: the deploy served now, if an older one is still live.
    serving: digest === undefined || served === undefined ? undefined : digestToHex(served.digest),
  });
  return { identifier, removed };
}

/**
 * What `list` shows, one row per SNI: deployed challenges, then `--watch-dir` ones a deploy does not shadow (a
 * deploy for the same name is what gets served).
 */
function listed(context: CommandContext, activity: Activity): { challenge: Challenge; served: number }[] {
  const deployed = context.store.list().map((challenge) => ({ challenge, served: activity.servedBySni.get(challenge.identifier.sni) ?? 0 }));
  const fromDirectory = (context.watched?.() ?? [])
    .filter((challenge) => context.store.get(challenge.identifier.sni) === undefined)
    .map((challenge) => ({ challenge, served: activity.servedBySni.get(challenge.identifier.sni) ?? 0 }));
  return [...deployed, ...fromDirectory];
}

async function execute(context: CommandContext, command: Command): Promise<string[]> {
  switch (command.name) {
    case 'deploy': {
      const { identifier, challenge } = await deploy(context, command.identifier, command.authorization, command.ttlSeconds);
      return [`OK deployed ${formatIdentifier(identifier)} expires ${challenge.expiresAt.toISOString()}`];
    }
    case 'auth':
      await deploy(context, command.identifier, command.authorization, undefined);
      return ['OK'];
    case 'clean': {
      const { identifier, removed } = await clean(context, command.identifier, command.authorization);
      return [`OK ${removed ? 'cleaned' : 'not-deployed'} ${formatIdentifier(identifier)}`];
    }
    case 'unauth':
      await clean(context, command.identifier, undefined);
      return ['OK'];
    case 'list': {
      const rows = listed(context, await context.activity());
      return [
        ...rows.map(
          ({ challenge: c, served }) =>
            `${formatIdentifier(c.identifier)} ${digestToHex(c.digest)} ${c.expiresAt.toISOString()} ${served}`,
        ),
        `OK ${rows.length}`,
      ];
    }
    case 'status': {
      const s = context.status();
      const activity = await context.activity();
      return [
        `OK version=${s.version} uptime=${s.uptimeSeconds}s listeners=${s.listeners.join(',') || 'none'} workers=${s.workers} ` +
          `challenges=${listed(context, activity).length} served=${activity.served} passed=${activity.passed} rejected=${activity.rejected}`,
      ];
    }
    case 'help':
      return [...Object.values(COMMAND_USAGE), 'OK'];
  }
}

/** Answers control lines against the store; every failure becomes one `ERR <code> <message>` line. */
export function createCommandHandler(context: CommandContext): LineHandler {
  return async (line) => {
    try {
      return await execute(context, parseCommand(line));
    } catch (error) {
      if (error instanceof AlpnResponderError) return [formatErrorReply(error.code, error.message)];
      context.log.log('error', 'control-command-failed', { error: String(error) });
      return [formatErrorReply('ERR_INTERNAL', 'the command failed unexpectedly; see the daemon log')];
    }
  };
}
