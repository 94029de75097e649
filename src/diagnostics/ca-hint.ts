/**
 * What a CA's validation error means for this setup: maps the problem text a CA reports (Let's Encrypt's Boulder,
 * Pebble) to the likely cause and what to do. Pure; shared by `doctor --explain` (which the hook's
 * `invalid_challenge` calls) and the doctor's self-test.
 */
import { formatIpAddress, parseIPv4, parseIPv6 } from '../ip-address.js';
import { CA_TEXTS, DOCTOR_REFERENCE, SECONDARY_PREFIX, type CaTextEntry } from './ca-texts-table.js';

/** A CA problem and what to do about it. */
export interface CaExplanation {
  /** The ACME problem type, e.g. `urn:ietf:params:acme:error:connection`, when the input carried one. */
  readonly type?: string;
  /** The CA's text. */
  readonly detail: string;
  /** The table entry that explains it (see ca-texts-table.ts); absent when the text is not known. */
  readonly known?: string;
  /** True when a remote perspective failed while the CA's primary one passed ("During secondary validation: "). */
  readonly secondary: boolean;
  /** The address the CA connected to, when the text names one. */
  readonly address?: string;
  /** Most likely cause first, each with what to do; never empty. */
  readonly hints: readonly string[];
}

/** Longest input looked at: a challenge object is well under 4 KiB. */
const MAX_INPUT = 64 * 1024;

const SECONDARY_HINT =
  'The CA validates from several places and its primary perspective passed, so this host answered right; a remote perspective ' +
  'reached something else. Usual causes: GeoDNS answering other regions with another address, an anycast address that lands on ' +
  'another node, a second node serving the name without the challenge (run every node with the same --store, docs/cluster.md), or a ' +
  'firewall or geo-block that admits only some source networks. Every address the name resolves to, from anywhere, must reach a ' +
  'daemon that has the challenge.';

const IPV6_HINT =
  'The CA connected over IPv6 (the name has an AAAA record, which the CA tries first, and a wrong answer there is final): the ' +
  'daemon must listen on [::]:443 and port 443 must be open for IPv6 — or remove the AAAA record if this host has no working IPv6.';

const UNKNOWN_HINT =
  'alpn-responder does not know this CA text: it is none of the tls-alpn-01 problems of Let\'s Encrypt (Boulder) or Pebble in its ' +
  'table (docs/doctor.md lists them), so no cause can be named with confidence. Run `alpn-responder doctor` on this host and ' +
  '`alpn-responder validate NAME` from outside; the daemon log shows each connection it got (event=connection … outcome=…).';

/**
 * The address a CA text names: Boulder's `192.0.2.1: ` or `2001:db8::1: ` prefix, `from [2001:db8::1]:443`, or
 * `at "2001:db8::1"`.
 */
export function namedAddress(detail: string): string | undefined {
  const candidates = [
    /^([0-9A-Fa-f:.]+): /.exec(detail)?.[1],
    /from \[([0-9A-Fa-f:.]+)\]:\d+/.exec(detail)?.[1],
    /from (\d{1,3}(?:\.\d{1,3}){3}):\d+/.exec(detail)?.[1],
    /at "([0-9A-Fa-f:.]+)"/.exec(detail)?.[1],
  ];
  for (const candidate of candidates) {
    if (candidate === undefined) continue;
    const bytes = parseIPv4(candidate) ?? parseIPv6(candidate);
    if (bytes !== undefined) return formatIpAddress(bytes);
  }
  return undefined;
}

/** The table entry for a CA text (without the secondary prefix), or undefined. */
export function knownCaText(detail: string): CaTextEntry | undefined {
  return CA_TEXTS.find((entry) => entry.test.test(detail));
}

function analyse(detail: string): Omit<CaExplanation, 'type' | 'detail'> {
  const secondary = detail.startsWith(SECONDARY_PREFIX);
  const inner = secondary ? detail.slice(SECONDARY_PREFIX.length) : detail;
  const entry = knownCaText(inner);
  const address = namedAddress(inner);
  const hints: string[] = [];
  // A CA-side failure or a region count is not about what answered: the generic multi-perspective text would mislead.
  const perspectiveText = entry?.id === 'ca-internal' || entry?.id === 'rir-corroboration';
  if (secondary && !perspectiveText) hints.push(SECONDARY_HINT);
  hints.push(entry === undefined ? UNKNOWN_HINT : `${entry.cause} ${entry.fix}`);
  if (address?.includes(':')) hints.push(IPV6_HINT);
  if (secondary && address !== undefined && !perspectiveText) {
    hints.push(`The remote perspective connected to ${address}: check that this address is one of this host's (or of a node with the challenge).`);
  }
  return { ...(entry === undefined ? {} : { known: entry.id }), secondary, ...(address === undefined ? {} : { address }), hints };
}

/**
 * Hints for a CA problem text: a multi-perspective failure first, then the main cause and fix, then what the address
 * adds. `inDoctor`: for the doctor's own output, which must not send the operator to the doctor.
 */
export function caHints(detail: string, options: { readonly inDoctor?: boolean } = {}): string[] {
  const hints = [...analyse(detail).hints];
  if (!options.inDoctor) return hints;
  return hints.map((hint) =>
    hint
      .replaceAll(DOCTOR_REFERENCE, 'the port lines above name process, pid and address')
      .replaceAll('Run `alpn-responder doctor` on this host and ', 'Run '),
  );
}

interface Problem {
  type?: string;
  detail?: string;
}

function asProblem(value: unknown): Problem | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { type, detail } = value as Record<string, unknown>;
  if (typeof detail !== 'string') return undefined;
  return { type: typeof type === 'string' ? type : undefined, detail };
}

/** The problem in a challenge (`error`), an authorization (`challenges[].error`) or a bare problem document. */
function problemInJson(value: unknown): Problem | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const object = value as Record<string, unknown>;
  const direct = asProblem(object.error);
  if (direct) return direct;
  if (Array.isArray(object.challenges)) {
    for (const challenge of object.challenges) {
      const found = asProblem((challenge as Record<string, unknown> | null)?.error);
      if (found) return found;
    }
  }
  return asProblem(object);
}

/** Reads one JSON string literal, as dehydrated's JSON.sh prints values; undefined if it is not one. */
function jsonString(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * dehydrated's `invalid_challenge` RESPONSE is its JSON.sh flattening of the challenge, one `["path"]<TAB>value`
 * line per leaf: `["error","detail"]	"192.0.2.1: Connection refused"`.
 */
function problemInJsonSh(text: string): Problem | undefined {
  const field = (name: string): string | undefined =>
    jsonString(new RegExp(`^\\["error","${name}"\\]\\s+(".*")\\s*$`, 'm').exec(text)?.[1]);
  const detail = field('detail');
  return detail === undefined ? undefined : { type: field('type'), detail };
}

/**
 * Explains what a CA reported. `response` may be the RESPONSE dehydrated hands to `invalid_challenge` (JSON.sh
 * lines), the challenge or authorization as JSON, a problem document, or just the detail text.
 */
export function explainCaResponse(response: string): CaExplanation {
  const text = response.slice(0, MAX_INPUT).trim();
  let problem = problemInJsonSh(text);
  if (problem === undefined && text.startsWith('{')) {
    try {
      problem = problemInJson(JSON.parse(text));
    } catch {
      // Not JSON after all: read it as the detail text.
    }
  }
  const detail = problem?.detail ?? text;
  return { ...(problem?.type === undefined ? {} : { type: problem.type }), detail, ...analyse(detail) };
}
