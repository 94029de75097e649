/**
 * Reads the daemon's `status` reply (`OK version=0.1.0 uptime=12s listeners=127.0.0.1:443,[::]:443 challenges=0 …`)
 * into values. Pure.
 */
import { parseListenAddress, type ListenAddress } from '../net/listen-address.js';

/** What `status` tells the doctor. */
export interface DaemonStatus {
  readonly version: string;
  readonly uptimeSeconds: number;
  /** The addresses the daemon has bound (port 0 resolved). */
  readonly listeners: readonly ListenAddress[];
  readonly challenges: number;
}

/** Parses the text after `OK `; undefined when it is not a status line of this project. */
export function parseStatusReply(text: string): DaemonStatus | undefined {
  const fields = new Map<string, string>();
  for (const word of text.trim().split(/\s+/)) {
    const equals = word.indexOf('=');
    if (equals > 0) fields.set(word.slice(0, equals), word.slice(equals + 1));
  }
  const version = fields.get('version');
  const uptime = /^(\d+)s$/.exec(fields.get('uptime') ?? '');
  const listeners = fields.get('listeners');
  if (version === undefined || uptime === null || listeners === undefined) return undefined;
  try {
    return {
      version,
      uptimeSeconds: Number(uptime[1]),
      listeners: listeners === 'none' ? [] : listeners.split(',').map(parseListenAddress),
      challenges: Number(fields.get('challenges') ?? 0),
    };
  } catch {
    return undefined;
  }
}

/** `3h 2m`, `45s`: uptime the way a person reads it. */
export function formatUptime(seconds: number): string {
  const days = Math.floor(seconds / 86_400);
  const hours = Math.floor((seconds % 86_400) / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  if (minutes > 0) return `${minutes}m ${seconds % 60}s`;
  return `${seconds}s`;
}
