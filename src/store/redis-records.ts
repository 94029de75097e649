/**
 * What the Redis store writes, as pure functions: the value of one challenge key and the change messages published
 * next to it. Redis is shared with other programs and other versions of this one, so everything read back is input:
 * bounded, parsed strictly, unknown fields refused.
 *
 * ```
 * key   <prefix>challenge:<sni>   {"v":1,"id":"<16 hex>","identifier":"example.org","digest":"<64 hex>"}   PX = TTL
 * chan  <prefix>events            {"v":1,"op":"put","id":…,"identifier":…,"digest":…,"ttlMs":3600000}
 *                                 {"v":1,"op":"delete","id":…,"sni":"example.org"}
 *                                 {"v":1,"op":"delete","id":…,"sni":"example.org","digest":"<64 hex>"}
 * ```
 *
 * A key holds the deploy served for its name (the newest). A delete with a digest removes only that deploy from each
 * node's stack of deploys for the name; when it was the newest, the writer sets the key to the one served next (with
 * that write's id) in the same MULTI, or deletes the key when there is none.
 *
 * The expiry is not in the value: the key's own TTL is the authority (PTTL on reload, `ttlMs` in a message), so
 * nodes whose wall clocks disagree still agree on when a challenge ends. `id` names one write, so a node can tell a
 * change it already holds from a new one (and a daemon its own writes coming back).
 */
import { DIGEST_LENGTH, digestFromHex, digestToHex } from '../challenge/authorization.js';
import { isJsonObject, quoteValue } from '../json-value.js';
import { formatIdentifier, parseIdentifier, type Identifier } from '../challenge/identifier.js';
import { MAX_TTL_SECONDS } from '../constants.js';

/** The format version written and the only one read. */
const RECORD_VERSION = 1;

/** Largest value or message read: a record is under 250 bytes; anything far larger is not ours. */
const MAX_RECORD_BYTES = 1024;

/** One challenge as stored under its key. */
export interface ChallengeRecord {
  /** Names this write: 16 lower-case hex digits. */
  readonly id: string;
  readonly identifier: Identifier;
  readonly digest: Uint8Array;
}

/** A change published on the events channel. */
export type ChangeMessage =
  | ({ readonly op: 'put'; readonly ttlMs: number } & ChallengeRecord)
  | { readonly op: 'delete'; readonly id: string; readonly sni: string; readonly digest?: Uint8Array | undefined };

/** A decoded value, or why it is not one. */
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const WRITE_ID = /^[0-9a-f]{16}$/;
const RECORD_FIELDS = ['v', 'id', 'identifier', 'digest'];
const PUT_FIELDS = [...RECORD_FIELDS, 'op', 'ttlMs'];
const DELETE_FIELDS = ['v', 'op', 'id', 'sni', 'digest'];

class Refused extends Error {}

function refuse(reason: string): never {
  throw new Refused(reason);
}

/** The value stored under a challenge's key. */
export function encodeRecord(record: ChallengeRecord): string {
  return JSON.stringify({ v: RECORD_VERSION, ...recordFields(record) });
}

/** The message announcing a change. */
export function encodeMessage(message: ChangeMessage): string {
  if (message.op === 'delete') {
    const digest = message.digest === undefined ? {} : { digest: digestToHex(message.digest) };
    return JSON.stringify({ v: RECORD_VERSION, op: 'delete', id: message.id, sni: message.sni, ...digest });
  }
  return JSON.stringify({ v: RECORD_VERSION, op: 'put', ...recordFields(message), ttlMs: message.ttlMs });
}

function recordFields(record: ChallengeRecord): Record<string, string> {
  return { id: record.id, identifier: formatIdentifier(record.identifier), digest: digestToHex(record.digest) };
}

/** Reads a challenge key's value. */
export function decodeRecord(text: string): Decoded<ChallengeRecord> {
  return decoding(() => readRecord(parseObject(text, RECORD_FIELDS)));
}

/** Reads a message from the events channel. */
export function decodeMessage(text: string): Decoded<ChangeMessage> {
  return decoding((): ChangeMessage => {
    const object = parseObject(text, [...new Set([...PUT_FIELDS, ...DELETE_FIELDS])]);
    if (object.op === 'put') {
      onlyFields(object, PUT_FIELDS);
      return { op: 'put', ...readRecord(object), ttlMs: readTtl(object.ttlMs) };
    }
    if (object.op === 'delete') {
      onlyFields(object, DELETE_FIELDS);
      if (object.digest === undefined) return { op: 'delete', id: readId(object.id), sni: readSni(object.sni) };
      return { op: 'delete', id: readId(object.id), sni: readSni(object.sni), digest: readDigest(object.digest) };
    }
    return refuse(`"op" is ${quoteValue(object.op)}, not "put" or "delete"`);
  });
}

function decoding<T>(read: () => T): Decoded<T> {
  try {
    return { ok: true, value: read() };
  } catch (error) {
    if (error instanceof Refused) return { ok: false, reason: error.message };
    throw error;
  }
}

function parseObject(text: string, allowed: readonly string[]): Record<string, unknown> {
  if (text.length > MAX_RECORD_BYTES) refuse(`longer than ${MAX_RECORD_BYTES} characters`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    refuse('not JSON');
  }
  if (!isJsonObject(value)) refuse('not a JSON object');
  const object = value as Record<string, unknown>;
  onlyFields(object, allowed);
  if (object.v !== RECORD_VERSION) refuse(`"v" is ${quoteValue(object.v)}; this daemon reads version ${RECORD_VERSION}`);
  return object;
}

function onlyFields(object: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(object)) if (!allowed.includes(key)) refuse(`unknown field ${quoteValue(key)}`);
}

function readRecord(object: Record<string, unknown>): ChallengeRecord {
  const identifierText = object.identifier;
  if (typeof identifierText !== 'string') refuse('"identifier" is missing or not a string');
  let identifier: Identifier;
  try {
    identifier = parseIdentifier(identifierText);
  } catch (error) {
    refuse(`"identifier": ${(error as Error).message}`);
  }
  return { id: readId(object.id), identifier, digest: readDigest(object.digest) };
}

function readDigest(value: unknown): Uint8Array {
  const digest = digestFromHex(value);
  if (digest === undefined) refuse(`"digest" is ${quoteValue(value)}, not ${DIGEST_LENGTH * 2} lower-case hex digits`);
  return digest;
}

function readId(value: unknown): string {
  if (typeof value !== 'string' || !WRITE_ID.test(value)) refuse(`"id" is ${quoteValue(value)}, not 16 lower-case hex digits`);
  return value;
}

function readSni(value: unknown): string {
  if (typeof value !== 'string') refuse('"sni" is missing or not a string');
  let sni: string;
  try {
    sni = parseIdentifier(value).sni;
  } catch (error) {
    refuse(`"sni": ${(error as Error).message}`);
  }
  // Only the canonical form names a key; anything else was not written by a daemon.
  if (sni !== value) refuse(`"sni" ${quoteValue(value)} is not in canonical form (${sni})`);
  return sni;
}

/** True for a TTL the daemon could have written: whole milliseconds, positive, at most MAX_TTL_SECONDS. */
export function isValidTtlMs(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1 && value <= MAX_TTL_SECONDS * 1000;
}

function readTtl(value: unknown): number {
  if (!isValidTtlMs(value)) refuse(`"ttlMs" is ${quoteValue(value)}, not a whole number of milliseconds from 1 to ${MAX_TTL_SECONDS * 1000}`);
  return value;
}
