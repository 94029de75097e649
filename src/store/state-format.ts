/**
 * The state file's format, as pure functions: deployed challenges to JSON text and back, with every field checked
 * the way the control socket checks it. No file access here, so the rules can be tested on their own.
 *
 * ```json
 * { "version": 2, "challenges": [{ "identifier": "example.org", "digest": "<64 hex>", "expiresAt": "<ISO time>" }] }
 * ```
 *
 * Version 2 may name an identifier several times (at most {@link MAX_DEPLOYS_PER_NAME}, each digest once): its
 * deploys, oldest first, the last one served. Version 1, which names each identifier once, is still read, and is
 * what is written while no name has more than one deploy, so a file stays readable by older daemons when it can.
 *
 * The file holds what the store holds — identifier, digest, expiry — and never a private key: certificates are
 * rebuilt from the digest at start. A reason for refusing a file never quotes its bytes: the path may have been
 * pointed at a file that is not ours, and the reason goes to the log.
 */
import { DIGEST_LENGTH, digestFromHex, digestToHex } from '../challenge/authorization.js';
import { bytesEqual } from '../bytes.js';
import { isJsonObject } from '../json-value.js';
import { formatIdentifier, parseIdentifier, type Identifier } from '../challenge/identifier.js';
import { MAX_DEPLOYS_PER_NAME, MAX_TTL_SECONDS } from '../constants.js';
import { AlpnResponderError, hasCode } from '../errors.js';
import type { Challenge } from '../challenge/challenge.js';

/** The newest format version, written when a name has several deploys. */
export const STATE_VERSION = 2;

/** The versions read: 1 (one deploy per name) and 2. */
const READ_VERSIONS: readonly unknown[] = [1, 2];

/** Largest state file read: 16 MiB is far beyond the default --max-challenges (about 150 bytes each). */
export const MAX_STATE_BYTES = 16 * 1024 * 1024;

/** What a state file holds once validated. */
export interface DecodedState {
  /** Challenges still live at `now`, in file order (for each name, oldest deploy first). */
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

/** A value's JSON type, for a reason that must not quote the value itself. */
function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Serialises challenges: sorted by SNI, so successive files diff cleanly, and for each SNI in the order given, which
 * must be oldest deploy first. Version 1 unless some name has several deploys.
 */
export function encodeState(challenges: readonly Challenge[]): string {
  const entries = [...challenges]
    .sort((a, b) => (a.identifier.sni < b.identifier.sni ? -1 : a.identifier.sni > b.identifier.sni ? 1 : 0))
    .map((c) => ({
      identifier: formatIdentifier(c.identifier),
      digest: digestToHex(c.digest),
      expiresAt: c.expiresAt.toISOString(),
    }));
  const stacked = new Set(challenges.map((c) => c.identifier.sni)).size < challenges.length;
  return `${JSON.stringify({ version: stacked ? STATE_VERSION : 1, challenges: entries }, null, 2)}\n`;
}

/**
 * Reads a state file's bytes: UTF-8 JSON of version 1 or 2, every field checked, unknown fields refused. Entries
 * that expired by `now` are counted, not returned.
 *
 * @throws AlpnResponderError ERR_STATE_CORRUPT whose message is the precise reason (never the file's bytes);
 *   nothing else.
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
  } catch {
    // Not the parser's message: it quotes the text around the error.
    throw corrupt('it is not JSON');
  }
  if (!isJsonObject(document)) throw corrupt('the top level is not a JSON object');
  for (const key of Object.keys(document)) {
    if (!TOP_LEVEL_FIELDS.has(key)) throw corrupt('it has a top-level field other than "version" and "challenges"');
  }
  if (!Object.hasOwn(document, 'version')) throw corrupt('"version" is missing');
  const version = document.version;
  if (!READ_VERSIONS.includes(version)) {
    throw corrupt(`"version" is not one this daemon reads (${READ_VERSIONS.join(' or ')}; it is ${kind(version)})`);
  }
  const entries = document.challenges;
  if (!Array.isArray(entries)) throw corrupt('"challenges" is missing or not an array');

  const challenges: Challenge[] = [];
  const seen = new Map<string, { index: number; digest: Uint8Array }[]>();
  let expired = 0;
  entries.forEach((entry: unknown, index) => {
    const challenge = decodeEntry(entry, `challenges[${index}]`, now);
    const sni = challenge.identifier.sni;
    const earlier = seen.get(sni) ?? [];
    if (earlier.length > 0 && version === 1) {
      throw corrupt(`challenges[${index}] names the identifier of challenges[${earlier[0]!.index}] again, which version 1 does not allow`);
    }
    const twin = earlier.find((e) => bytesEqual(e.digest, challenge.digest));
    if (twin !== undefined) throw corrupt(`challenges[${index}] repeats the identifier and digest of challenges[${twin.index}]`);
    if (earlier.length >= MAX_DEPLOYS_PER_NAME) {
      throw corrupt(`challenges[${index}] is deploy ${earlier.length + 1} of one identifier; at most ${MAX_DEPLOYS_PER_NAME} are kept`);
    }
    earlier.push({ index, digest: challenge.digest });
    seen.set(sni, earlier);
    if (challenge.expiresAt.getTime() <= now.getTime()) expired++;
    else challenges.push(challenge);
  });
  return { challenges, expired };
}

function decodeEntry(entry: unknown, where: string, now: Date): Challenge {
  if (!isJsonObject(entry)) throw corrupt(`${where} is not a JSON object`);
  for (const key of Object.keys(entry)) {
    if (!ENTRY_FIELDS.has(key)) throw corrupt(`${where} has a field other than "identifier", "digest" and "expiresAt"`);
  }
  const field = (name: string): string => {
    const value = entry[name];
    if (value === undefined) throw corrupt(`${where}.${name} is missing`);
    if (typeof value !== 'string') throw corrupt(`${where}.${name} is ${kind(value)}, not a string`);
    return value;
  };

  let identifier: Identifier;
  try {
    identifier = parseIdentifier(field('identifier'));
  } catch (error) {
    if (!hasCode(error, 'ERR_BAD_IDENTIFIER') && !hasCode(error, 'ERR_WILDCARD_IDENTIFIER')) throw error;
    throw corrupt(`${where}.identifier is not a DNS name or IP address that can be deployed (${error.code})`);
  }

  const digest = digestFromHex(field('digest'));
  if (digest === undefined) throw corrupt(`${where}.digest is not ${DIGEST_LENGTH * 2} lower-case hex digits`);

  const expiresText = field('expiresAt');
  const expiresAt = new Date(expiresText);
  if (!ISO_TIME.test(expiresText) || Number.isNaN(expiresAt.getTime()) || expiresAt.toISOString() !== expiresText) {
    throw corrupt(`${where}.expiresAt is not a UTC time like 2026-01-02T03:04:05.678Z`);
  }
  // No deploy lives longer than MAX_TTL_SECONDS: a later expiry was never written by us (and would overflow timers).
  if (expiresAt.getTime() - now.getTime() > MAX_TTL_SECONDS * 1000) {
    throw corrupt(`${where}.expiresAt is more than ${MAX_TTL_SECONDS} seconds after now`);
  }
  return { identifier, digest, expiresAt };
}
