/**
 * The state file's format, as pure functions: deployed challenges to JSON text and back, with every field checked
 * the way the control socket checks it. No file access here, so the rules can be tested on their own.
 *
 * ```json
 * { "version": 1, "challenges": [{ "identifier": "example.org", "digest": "<64 hex>", "expiresAt": "<ISO time>" }] }
 * ```
 *
 * The file holds what the store holds — identifier, digest, expiry — and never a private key: certificates are
 * rebuilt from the digest at start.
 */
import { DIGEST_LENGTH, digestFromHex, digestToHex } from '../challenge/authorization.js';
import { isJsonObject, quoteValue } from '../json-value.js';
import { formatIdentifier, parseIdentifier, type Identifier } from '../challenge/identifier.js';
import { MAX_TTL_SECONDS } from '../constants.js';
import { AlpnResponderError } from '../errors.js';
import type { Challenge } from './challenge-store.js';

/** The format version written and the only one read; a future change of meaning bumps it. */
export const STATE_VERSION = 1;

/** Largest state file read: 16 MiB is far beyond the default --max-challenges (about 150 bytes each). */
export const MAX_STATE_BYTES = 16 * 1024 * 1024;

/** What a state file holds once validated. */
export interface DecodedState {
  /** Challenges still live at `now`, in file order. */
  readonly challenges: Challenge[];
  /** Entries dropped because they had expired by `now`. */
  readonly expired: number;
}

const TOP_LEVEL_FIELDS = new Set(['version', 'challenges']);
const ENTRY_FIELDS = new Set(['identifier', 'digest', 'expiresAt']);
// Exactly what Date#toISOString writes, so a time the file holds reads back as the same instant.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function corrupt(reason: string): AlpnResponderError {
  return new AlpnResponderError('ERR_STATE_CORRUPT', reason);
}

/** Serialises challenges (sorted by SNI, so successive files diff cleanly), with the format version. */
export function encodeState(challenges: readonly Challenge[]): string {
  const entries = [...challenges]
    .sort((a, b) => (a.identifier.sni < b.identifier.sni ? -1 : a.identifier.sni > b.identifier.sni ? 1 : 0))
    .map((c) => ({
      identifier: formatIdentifier(c.identifier),
      digest: digestToHex(c.digest),
      expiresAt: c.expiresAt.toISOString(),
    }));
  return `${JSON.stringify({ version: STATE_VERSION, challenges: entries }, null, 2)}\n`;
}

/**
 * Reads a state file's bytes: UTF-8 JSON of {@link STATE_VERSION}, every field checked, unknown fields refused.
 * Entries that expired by `now` are counted, not returned.
 *
 * @throws AlpnResponderError ERR_STATE_CORRUPT whose message is the precise reason; nothing else.
 */
export function decodeState(bytes: Uint8Array, now: Date): DecodedState {
  if (bytes.length > MAX_STATE_BYTES) throw corrupt(`it is larger than ${MAX_STATE_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw corrupt('it is not UTF-8 text');
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw corrupt(`it is not JSON: ${(error as Error).message}`);
  }
  if (!isJsonObject(document)) throw corrupt('the top level is not a JSON object');
  for (const key of Object.keys(document)) {
    if (!TOP_LEVEL_FIELDS.has(key)) throw corrupt(`unknown top-level field ${quoteValue(key)}`);
  }
  if (!Object.hasOwn(document, 'version')) throw corrupt('"version" is missing');
  if (document.version !== STATE_VERSION) {
    throw corrupt(`"version" is ${quoteValue(document.version)}; this daemon reads version ${STATE_VERSION}`);
  }
  const entries = document.challenges;
  if (!Array.isArray(entries)) throw corrupt('"challenges" is missing or not an array');

  const challenges: Challenge[] = [];
  const seen = new Map<string, number>();
  let expired = 0;
  entries.forEach((entry: unknown, index) => {
    const challenge = decodeEntry(entry, `challenges[${index}]`, now);
    const sni = challenge.identifier.sni;
    const first = seen.get(sni);
    if (first !== undefined) throw corrupt(`challenges[${index}] names ${sni} again (first at challenges[${first}])`);
    seen.set(sni, index);
    if (challenge.expiresAt.getTime() <= now.getTime()) expired++;
    else challenges.push(challenge);
  });
  return { challenges, expired };
}

function decodeEntry(entry: unknown, where: string, now: Date): Challenge {
  if (!isJsonObject(entry)) throw corrupt(`${where} is not a JSON object`);
  for (const key of Object.keys(entry)) {
    if (!ENTRY_FIELDS.has(key)) throw corrupt(`${where} has an unknown field ${quoteValue(key)}`);
  }
  const field = (name: string): string => {
    const value = entry[name];
    if (value === undefined) throw corrupt(`${where}.${name} is missing`);
    if (typeof value !== 'string') throw corrupt(`${where}.${name} is ${quoteValue(value)}, not a string`);
    return value;
  };

  const identifierText = field('identifier');
  let identifier: Identifier;
  try {
    identifier = parseIdentifier(identifierText);
  } catch (error) {
    throw corrupt(`${where}.identifier: ${(error as Error).message}`);
  }

  const digestHex = field('digest');
  const digest = digestFromHex(digestHex);
  if (digest === undefined) {
    throw corrupt(`${where}.digest is ${quoteValue(digestHex)}, not ${DIGEST_LENGTH * 2} lower-case hex digits`);
  }

  const expiresText = field('expiresAt');
  const expiresAt = new Date(expiresText);
  if (!ISO_TIME.test(expiresText) || Number.isNaN(expiresAt.getTime()) || expiresAt.toISOString() !== expiresText) {
    throw corrupt(`${where}.expiresAt is ${quoteValue(expiresText)}, not a UTC time like 2026-01-02T03:04:05.678Z`);
  }
  // No deploy lives longer than MAX_TTL_SECONDS: a later expiry was never written by us (and would overflow timers).
  if (expiresAt.getTime() - now.getTime() > MAX_TTL_SECONDS * 1000) {
    throw corrupt(`${where}.expiresAt ${expiresText} is more than ${MAX_TTL_SECONDS} seconds after now`);
  }
  return { identifier, digest, expiresAt };
}
