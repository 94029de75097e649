/**
 * Reads the routing facts (SNI, ALPN, versions) out of a TLS ClientHello before any TLS library sees the
 * connection.
 *
 * The parser enforces every rule whose violation would make those facts ambiguous or the structure unreadable
 * (record framing, vector bounds, duplicate extensions, malformed server_name / ALPN / supported_versions). Semantic
 * checks that do not affect routing (cipher choice, compression values, extension order) are left to the TLS
 * library or backend that later receives the replayed bytes.
 *
 * It is eager: a buffer is `invalid` as soon as the bytes received so far can no longer start a valid ClientHello,
 * and never `invalid` while they still could.
 */
import { hex, latin1, octet } from '../bytes.js';
import { INCOMPLETE, complete, invalid, isStop, type ParseResult, type Stop } from '../parse-result.js';

/** The routing facts of one ClientHello. */
export interface ClientHello {
  /** host_name of the server_name extension (RFC 6066 §3), ASCII lower-cased; undefined when absent. */
  readonly serverName: string | undefined;
  /**
   * ALPN protocol names in client order (RFC 7301); [] when the extension is absent. Names are opaque bytes, decoded
   * one character per byte (latin1) so they compare exactly with ASCII IDs such as `acme-tls/1`.
   */
  readonly alpn: readonly string[];
  /** Whether the client sent the ALPN extension at all. */
  readonly hasAlpnExtension: boolean;
  /** The legacy_version / client_version field (0x0303 for TLS 1.2 and 1.3). */
  readonly legacyVersion: number;
  /** Versions of the supported_versions extension (RFC 8446 §4.2.1) as sent, GREASE included; [] when absent. */
  readonly supportedVersions: readonly number[];
}

/**
 * Largest ClientHello body (the handshake length field) accepted: 16 KiB, one maximal record (RFC 8446 §5.1).
 *
 * Real hellos are far smaller: about 2 KiB with an X25519MLKEM768 key share, under 6 KiB even with two post-quantum
 * shares and a resumption ticket. The cap leaves room for growth while keeping a hello carried by full-size records
 * well inside MAX_CLIENT_HELLO_BYTES (32 KiB), the connection reader's buffer limit.
 */
export const MAX_CLIENT_HELLO_LENGTH = 16 * 1024;

/** RFC 8446 §5.1: "The length MUST NOT exceed 2^14 bytes." */
const MAX_RECORD_LENGTH = 2 ** 14;
const RECORD_HEADER_LENGTH = 5;
const HANDSHAKE_HEADER_LENGTH = 4;
const CONTENT_TYPE_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const NAME_TYPE_HOST_NAME = 0;
/** RFC 1035 §3.1 limits a name to 255 octets on the wire; its text form is shorter still. */
const MAX_HOST_NAME_LENGTH = 255;

const EXTENSION_SERVER_NAME = 0;
const EXTENSION_ALPN = 16;
const EXTENSION_SUPPORTED_VERSIONS = 43;

const CONTENT_TYPE_NAMES: Readonly<Record<number, string>> = {
  20: 'change_cipher_spec',
  21: 'alert',
  23: 'application_data',
  24: 'heartbeat',
};

const HANDSHAKE_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'hello_request',
  2: 'server_hello',
  4: 'new_session_ticket',
  5: 'end_of_early_data',
  8: 'encrypted_extensions',
  11: 'certificate',
  12: 'server_key_exchange',
  13: 'certificate_request',
  14: 'server_hello_done',
  15: 'certificate_verify',
  16: 'client_key_exchange',
  20: 'finished',
  24: 'key_update',
};

const EXTENSION_NAMES: Readonly<Record<number, string>> = {
  [EXTENSION_SERVER_NAME]: 'server_name',
  [EXTENSION_ALPN]: 'application_layer_protocol_negotiation',
  [EXTENSION_SUPPORTED_VERSIONS]: 'supported_versions',
};


function named(value: number, names: Readonly<Record<number, string>>): string {
  const name = names[value];
  return name === undefined ? String(value) : `${value} (${name})`;
}

/**
 * What a parser message calls a field or region: a string, or an object that builds one only when a message is
 * written. Nearly every hello parses without one, so names that take work to build are not built per hello.
 */
type Label = string | { toString(): string };

/** Names the extension being parsed, for messages; one per hello, its `type` set for each extension in turn. */
class ExtensionLabel {
  type = 0;

  toString(): string {
    return `extension ${named(this.type, EXTENSION_NAMES)}`;
  }
}

/**
 * A bounds-checked cursor over bytes that may still be arriving.
 *
 * `end` is where the enclosing structure says the region ends; `bytes.length` is how much has arrived. A read past
 * `end` can never succeed (invalid); a read inside `end` but past `bytes.length` only needs more bytes (incomplete).
 */
class Cursor {
  #pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly start: number,
    private readonly end: number,
    private readonly region: Label,
  ) {
    this.#pos = start;
  }

  /** Declared size of the region. */
  get size(): number {
    return this.end - this.start;
  }

  /** Declared bytes left after the current position, whether or not they have arrived. */
  get remaining(): number {
    return this.end - this.#pos;
  }

  /** True once the declared end is reached. */
  get done(): boolean {
    return this.remaining === 0;
  }

  /** Moves over `n` bytes that must have arrived, returning where they start; `what` + `suffix` names them. */
  take(n: number, what: Label, suffix = ''): number | Stop {
    if (n > this.remaining) return invalid(`${what}${suffix} overruns ${this.region}`);
    if (this.#pos + n > this.bytes.length) return INCOMPLETE;
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  /** Reads a big-endian unsigned integer of `width` bytes. */
  uint(width: 1 | 2, what: Label, suffix = ''): number | Stop {
    const at = this.take(width, what, suffix);
    if (isStop(at)) return at;
    let value = 0;
    for (let i = at; i < at + width; i++) value = value * 256 + octet(this.bytes, i);
    return value;
  }

  /** Reads `n` bytes that must have arrived. */
  slice(n: number, what: string): Uint8Array | Stop {
    const at = this.take(n, what);
    return isStop(at) ? at : this.bytes.subarray(at, at + n);
  }

  /**
   * Opens a vector with a `width`-byte length prefix: checks that its declared length fits this region and moves
   * past it, even when its content has not arrived yet (the next read then reports incomplete).
   */
  vector(width: 1 | 2, what: Label): Cursor | Stop {
    const length = this.uint(width, what, ' length');
    if (isStop(length)) return length;
    if (length > this.remaining) return invalid(`${what} (${length} bytes) overruns ${this.region}`);
    const inner = new Cursor(this.bytes, this.#pos, this.#pos + length, what);
    this.#pos += length;
    return inner;
  }
}

/**
 * Parses the ClientHello at the start of a connection.
 *
 * @param bytes Everything received on the connection so far, from its first byte: TLS plaintext records, the
 *   ClientHello possibly fragmented across several of them.
 * @returns `complete` with the routing facts and, as `length`, the bytes used by the records that carried the hello
 *   (trailing bytes inside its last record included); `incomplete` while more bytes could still complete it;
 *   `invalid` with a reason for the log as soon as they cannot. Never throws.
 */
export function parseClientHello(bytes: Uint8Array): ParseResult<ClientHello> {
  const framing = frame(bytes);
  if (isStop(framing)) return framing;
  const { message, gathered, end } = framing;
  if (message === undefined) return INCOMPLETE;
  const hello = parseBody(message.subarray(HANDSHAKE_HEADER_LENGTH, gathered), message.length - HANDSHAKE_HEADER_LENGTH);
  if (isStop(hello)) return hello;
  // The body parser steps over declared extension data it does not read, so completeness is decided here.
  if (gathered < message.length || end > bytes.length) return INCOMPLETE;
  return complete(hello, end);
}

/**
 * The buffer length below which {@link parseClientHello} cannot return `complete`, for a buffer it called
 * `incomplete`.
 *
 * A connection reader fed tiny chunks (or tiny records) that re-parsed the whole buffer on each one would do
 * quadratic work; parsing only once the buffer reaches this length keeps it near-linear, because the bound moves
 * past the current record and every handshake byte still missing. The bound holds only for `complete`: an `invalid`
 * verdict on a half-received record is then reached later (at the bound, or at the reader's byte or time limit).
 * When nothing is known to be missing, or the records seen are already invalid, it returns at most `bytes.length`:
 * parse now.
 *
 * @param bytes Everything received so far, as given to {@link parseClientHello}.
 */
export function clientHelloBytesWanted(bytes: Uint8Array): number {
  const framing = frame(bytes);
  if (isStop(framing)) return bytes.length;
  const missing = (framing.message?.length ?? HANDSHAKE_HEADER_LENGTH) - framing.declared;
  // Missing handshake bytes need at least one more record, with its header, after the current one.
  return missing > 0 ? framing.end + RECORD_HEADER_LENGTH + missing : framing.end;
}

/** The handshake message reassembled from the records received so far. */
interface Framing {
  /** The whole message (header included) once its header has arrived, filled up to `gathered`. */
  readonly message: Uint8Array | undefined;
  /** Handshake bytes received. */
  readonly gathered: number;
  /** Handshake bytes the records walked declare, received or not. */
  readonly declared: number;
  /** End of the last record walked: its declared end, which may lie past `bytes.length`. */
  readonly end: number;
}

/**
 * Walks the records and reassembles the handshake message from their fragments. RFC 8446 §5.1: "Handshake
 * messages MAY be coalesced into a single TLSPlaintext record or fragmented across several records".
 */
function frame(bytes: Uint8Array): Framing | Stop {
  const single = singleRecord(bytes);
  if (single !== undefined) return single;
  const header = new Uint8Array(HANDSHAKE_HEADER_LENGTH);
  let message: Uint8Array | undefined;
  let gathered = 0;
  let declared = 0;
  let end = 0;
  while (message === undefined || declared < message.length) {
    const fragmentLength = recordHeader(bytes, end);
    if (fragmentLength === INCOMPLETE) break;
    if (isStop(fragmentLength)) return fragmentLength;
    const start = end + RECORD_HEADER_LENGTH;
    end = start + fragmentLength;
    declared += fragmentLength;
    const available = Math.min(end, bytes.length);
    for (let i = start; i < available; i++) {
      const byte = octet(bytes, i);
      if (message === undefined) {
        header[gathered++] = byte;
        const wrongType = gathered === 1 ? handshakeType(header, 0) : undefined;
        if (wrongType !== undefined) return wrongType;
        if (gathered === HANDSHAKE_HEADER_LENGTH) {
          const length = handshakeLength(header, 0);
          if (isStop(length)) return length;
          message = new Uint8Array(HANDSHAKE_HEADER_LENGTH + length);
          message.set(header);
        }
      } else if (gathered < message.length) {
        message[gathered++] = byte;
      } else {
        // Bytes after the ClientHello in its last record: RFC 8446 §5.1 wants the hello to end on a record
        // boundary, but routing does not depend on them and the TLS library that receives the replayed bytes
        // enforces that rule itself.
        break;
      }
    }
    if (available < end) break;
  }
  return { message, gathered, declared, end };
}

/**
 * {@link frame} for the usual case, a first record that holds the whole hello and has arrived: the message is then a
 * view of the record instead of a copy assembled byte by byte. Undefined when the bytes are not that case.
 */
function singleRecord(bytes: Uint8Array): Framing | Stop | undefined {
  const fragmentLength = recordHeader(bytes, 0);
  if (isStop(fragmentLength) || fragmentLength < HANDSHAKE_HEADER_LENGTH) return undefined;
  const start = RECORD_HEADER_LENGTH;
  if (bytes.length < start + HANDSHAKE_HEADER_LENGTH) return undefined;
  const wrongType = handshakeType(bytes, start);
  if (wrongType !== undefined) return wrongType;
  const length = handshakeLength(bytes, start);
  if (isStop(length)) return length;
  const messageEnd = start + HANDSHAKE_HEADER_LENGTH + length;
  const end = start + fragmentLength;
  if (messageEnd > end || messageEnd > bytes.length) return undefined;
  return { message: bytes.subarray(start, messageEnd), gathered: messageEnd - start, declared: fragmentLength, end };
}

/** Checks the record header at `pos` as far as it has arrived; returns the fragment length once all of it has. */
function recordHeader(bytes: Uint8Array, pos: number): number | Stop {
  const type = bytes[pos];
  if (type === undefined) return INCOMPLETE;
  if (type !== CONTENT_TYPE_HANDSHAKE) {
    if (pos === 0) return invalid(describeNonHandshakeStart(bytes));
    // RFC 8446 §5.1: "Handshake messages MUST NOT be interleaved with other record types."
    return invalid(`record type ${named(type, CONTENT_TYPE_NAMES)} interleaved with the ClientHello's handshake records`);
  }
  const major = bytes[pos + 1];
  if (major === undefined) return INCOMPLETE;
  const minor = bytes[pos + 2];
  // RFC 8446 §5.1: legacy_record_version is 0x0303, but for an initial ClientHello it "MAY also be 0x0301 for
  // compatibility purposes", and older stacks send 0x0300..0x0302. Appendix D.5: "Implementations SHOULD NOT accept
  // any records with a version less than 0x0300". Anything outside 0x0300..0x0304 is not a TLS record.
  if (major !== 3 || (minor !== undefined && minor > 4)) {
    const version = minor === undefined ? `${hex(major, 2)}..` : hex(major * 256 + minor, 4);
    return invalid(`record version ${version} is not TLS (expected 0x0300..0x0304)`);
  }
  const high = bytes[pos + 3];
  const low = bytes[pos + 4];
  if (high === undefined || low === undefined) return INCOMPLETE;
  const length = high * 256 + low;
  // RFC 8446 §5.1: "Implementations MUST NOT send zero-length fragments of Handshake types".
  if (length === 0) return invalid('zero-length handshake record');
  // RFC 8446 §5.1: "The length MUST NOT exceed 2^14 bytes."
  if (length > MAX_RECORD_LENGTH) return invalid(`record length ${length} exceeds 2^14 (${MAX_RECORD_LENGTH})`);
  return length;
}

/** Explains, for the log, a connection whose first byte does not open a handshake record. */
function describeNonHandshakeStart(bytes: Uint8Array): string {
  const first = octet(bytes, 0);
  // RFC 5246 Appendix E.2: the SSL 2.0 header has the top bit of its length set, then msg_type 1. RFC 8446 Appendix
  // D.5: "Implementations are NOT RECOMMENDED to accept an SSL version 2.0 compatible CLIENT-HELLO".
  if (first >= 0x80 && (bytes.length < 3 || bytes[2] === 1)) {
    return 'SSLv2-compatible ClientHello (RFC 5246 Appendix E.2) is not supported';
  }
  const typeName = CONTENT_TYPE_NAMES[first];
  if (typeName !== undefined) {
    return `record type ${first} (${typeName}) where a handshake record (22) carrying a ClientHello was expected`;
  }
  let text = '';
  for (const byte of bytes.subarray(0, 32)) {
    if (byte < 0x20 || byte > 0x7e) break;
    text += String.fromCharCode(byte);
  }
  if (text.length > 0) return `not TLS: the client sent plain text starting ${JSON.stringify(text)} (HTTP or another plain-text protocol on the TLS port?)`;
  return `not TLS: first byte ${hex(first, 2)} is not a handshake record (22)`;
}

/** Checks the type byte of the handshake header at `at`: a verdict when it is not a ClientHello. */
function handshakeType(bytes: Uint8Array, at: number): Stop | undefined {
  const type = octet(bytes, at);
  if (type === HANDSHAKE_CLIENT_HELLO) return undefined;
  return invalid(`handshake message type ${named(type, HANDSHAKE_TYPE_NAMES)} where a ClientHello (1) was expected`);
}

/** The body length the complete handshake header at `at` declares, within the cap. */
function handshakeLength(bytes: Uint8Array, at: number): number | Stop {
  const length = (octet(bytes, at + 1) * 256 + octet(bytes, at + 2)) * 256 + octet(bytes, at + 3);
  if (length > MAX_CLIENT_HELLO_LENGTH) {
    return invalid(`ClientHello length ${length} exceeds the ${MAX_CLIENT_HELLO_LENGTH}-byte cap`);
  }
  return length;
}

/**
 * Parses the ClientHello body (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2).
 *
 * @param body The body bytes received so far.
 * @param length The body length the handshake header declares.
 */
function parseBody(body: Uint8Array, length: number): ClientHello | Stop {
  const hello = new Cursor(body, 0, length, 'the ClientHello');
  const legacyVersion = hello.uint(2, 'legacy_version');
  if (isStop(legacyVersion)) return legacyVersion;
  // RFC 8446 Appendix D.5: "Any endpoint receiving a Hello message with ClientHello.legacy_version ... set to 0x0300
  // MUST abort the handshake with a "protocol_version" alert." Below that it is not TLS at all.
  if (legacyVersion < 0x0301 || legacyVersion > 0x03ff) {
    return invalid(`ClientHello legacy_version ${hex(legacyVersion, 4)} is below TLS 1.0 or not TLS`);
  }
  const random = hello.take(32, 'random');
  if (isStop(random)) return random;

  const sessionId = hello.vector(1, 'legacy_session_id');
  if (isStop(sessionId)) return sessionId;
  // RFC 8446 §4.1.2: opaque legacy_session_id<0..32>.
  if (sessionId.size > 32) return invalid(`legacy_session_id is ${sessionId.size} bytes, more than 32`);

  const cipherSuites = hello.vector(2, 'cipher_suites');
  if (isStop(cipherSuites)) return cipherSuites;
  // RFC 8446 §4.1.2: CipherSuite cipher_suites<2..2^16-2>, two bytes per suite.
  if (cipherSuites.size < 2 || cipherSuites.size % 2 !== 0) {
    return invalid(`cipher_suites is ${cipherSuites.size} bytes: not a non-empty list of 2-byte suites`);
  }

  const compression = hello.vector(1, 'legacy_compression_methods');
  if (isStop(compression)) return compression;
  // RFC 8446 §4.1.2: opaque legacy_compression_methods<1..2^8-1>.
  if (compression.size === 0) return invalid('legacy_compression_methods is empty');

  const facts: ExtensionFacts = { serverName: undefined, alpn: [], hasAlpnExtension: false, supportedVersions: [] };
  // RFC 8446 §4.1.2: "a server MUST check that the message either contains no data after
  // legacy_compression_methods or that it contains a valid extensions block with no data following."
  if (!hello.done) {
    const extensions = hello.vector(2, 'extensions');
    if (isStop(extensions)) return extensions;
    if (!hello.done) return invalid(`${hello.remaining} unexpected bytes follow the extensions block`);
    const stop = parseExtensions(extensions, facts);
    if (stop !== undefined) return stop;
  }
  return {
    legacyVersion,
    serverName: facts.serverName,
    alpn: facts.alpn,
    hasAlpnExtension: facts.hasAlpnExtension,
    supportedVersions: facts.supportedVersions,
  };
}

/** Mutable accumulator for the extension parsers. */
interface ExtensionFacts {
  serverName: string | undefined;
  alpn: string[];
  hasAlpnExtension: boolean;
  supportedVersions: number[];
}

function parseExtensions(extensions: Cursor, facts: ExtensionFacts): Stop | undefined {
  const seen = new Set<number>();
  const name = new ExtensionLabel();
  while (!extensions.done) {
    const type = extensions.uint(2, 'extension type');
    if (isStop(type)) return type;
    name.type = type;
    const data = extensions.vector(2, name);
    if (isStop(data)) return data;
    // RFC 8446 §4.2: "There MUST NOT be more than one extension of the same type in a given extension block."
    if (seen.has(type)) return invalid(`duplicate ${name}`);
    seen.add(type);
    let stop: Stop | undefined;
    if (type === EXTENSION_SERVER_NAME) stop = parseServerName(data, facts);
    else if (type === EXTENSION_ALPN) stop = parseAlpn(data, facts);
    else if (type === EXTENSION_SUPPORTED_VERSIONS) stop = parseSupportedVersions(data, facts);
    if (stop !== undefined) return stop;
  }
  return undefined;
}

/** RFC 6066 §3: struct { ServerName server_name_list<1..2^16-1> } ServerNameList. */
function parseServerName(data: Cursor, facts: ExtensionFacts): Stop | undefined {
  const list = data.vector(2, 'server_name_list');
  if (isStop(list)) return list;
  if (!data.done) return invalid('unexpected bytes after server_name_list');
  if (list.size === 0) return invalid('server_name_list is empty');
  while (!list.done) {
    const nameType = list.uint(1, 'server name_type');
    if (isStop(nameType)) return nameType;
    // Only host_name is defined, and its encoding is opaque HostName<1..2^16-1>. Like Go's crypto/tls, assume any
    // other name type uses the same encoding and skip it, so a future type does not break routing.
    const name = list.vector(2, `server name of type ${nameType}`);
    if (isStop(name)) return name;
    if (nameType !== NAME_TYPE_HOST_NAME) continue;
    // RFC 6066 §3: "The ServerNameList MUST NOT contain more than one name of the same name_type."
    if (facts.serverName !== undefined) return invalid('server_name_list holds more than one host_name');
    const stop = readHostName(name, facts);
    if (stop !== undefined) return stop;
  }
  return undefined;
}

function readHostName(name: Cursor, facts: ExtensionFacts): Stop | undefined {
  if (name.size === 0) return invalid('empty host_name in server_name');
  if (name.size > MAX_HOST_NAME_LENGTH) {
    return invalid(`host_name is ${name.size} bytes, longer than a DNS name (${MAX_HOST_NAME_LENGTH})`);
  }
  const bytes = name.slice(name.size, 'host_name');
  if (isStop(bytes)) return bytes;
  // RFC 6066 §3: the HostName is "a byte string using ASCII encoding without a trailing dot", IDNs as A-labels.
  // Control characters and spaces have no place in a DNS name and would make log lines ambiguous. A trailing dot is
  // kept as sent: it never matches a deployed identifier, and a passthrough backend may still accept it.
  for (const byte of bytes) {
    if (byte < 0x21 || byte > 0x7e) return invalid(`host_name contains byte ${hex(byte, 2)}, outside visible ASCII`);
  }
  facts.serverName = latin1(bytes).toLowerCase();
  return undefined;
}

/** RFC 7301 §3.1: struct { ProtocolName protocol_name_list<2..2^16-1> } ProtocolNameList. */
function parseAlpn(data: Cursor, facts: ExtensionFacts): Stop | undefined {
  facts.hasAlpnExtension = true;
  const list = data.vector(2, 'protocol_name_list');
  if (isStop(list)) return list;
  if (!data.done) return invalid('unexpected bytes after protocol_name_list');
  if (list.size === 0) return invalid('ALPN protocol_name_list is empty');
  while (!list.done) {
    const name = list.vector(1, 'ALPN protocol name');
    if (isStop(name)) return name;
    // RFC 7301 §3.1: "Empty strings MUST NOT be included and byte strings MUST NOT be truncated."
    if (name.size === 0) return invalid('empty ALPN protocol name');
    const bytes = name.slice(name.size, 'ALPN protocol name');
    if (isStop(bytes)) return bytes;
    facts.alpn.push(latin1(bytes));
  }
  return undefined;
}

/** RFC 8446 §4.2.1: struct { ProtocolVersion versions<2..254> } SupportedVersions, in a ClientHello. */
function parseSupportedVersions(data: Cursor, facts: ExtensionFacts): Stop | undefined {
  const list = data.vector(1, 'supported_versions list');
  if (isStop(list)) return list;
  if (!data.done) return invalid('unexpected bytes after the supported_versions list');
  if (list.size < 2 || list.size % 2 !== 0) {
    return invalid(`supported_versions list is ${list.size} bytes: not a non-empty list of 2-byte versions`);
  }
  while (!list.done) {
    const version = list.uint(2, 'supported version');
    if (isStop(version)) return version;
    facts.supportedVersions.push(version);
  }
  return undefined;
}
