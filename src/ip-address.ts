/**
 * IP addresses as text and bytes: the one place that tells an address from anything else. Strict and
 * self-contained (no node:net): a dotted quad is four decimal numbers 0-255 without leading zeros; IPv6 is RFC 4291
 * text (any case, `::` at most once, a trailing dotted quad allowed), without brackets or a zone.
 */

const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;
/** One octet of a canonical dotted quad, for the per-connection fast path. */
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const CANONICAL_IPV4 = new RegExp(`^(?:${OCTET}\\.){3}${OCTET}$`);

/** Whether `text` is a dotted quad exactly as Node writes socket addresses; a regular expression, no parsing. */
export function isCanonicalIPv4(text: string): boolean {
  return CANONICAL_IPV4.test(text);
}

/** `text` without its IPv6 zone (`fe80::1%eth0` → `fe80::1`), as socket addresses and URLs may carry one. */
export function withoutZone(text: string): string {
  const percent = text.indexOf('%');
  return percent === -1 ? text : text.slice(0, percent);
}

/** 4 for a dotted quad, 6 for IPv6 text (no brackets, no zone), undefined for anything else. */
export function ipVersion(text: string): 4 | 6 | undefined {
  if (parseIPv4(text) !== undefined) return 4;
  return parseIPv6(text) === undefined ? undefined : 6;
}

/** Strict dotted quad → 4 bytes, or undefined. */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!DECIMAL_OCTET.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** IPv6 text (no brackets, no zone; any case; `::` at most once; trailing dotted quad allowed) → 16 bytes. */
export function parseIPv6(text: string): Uint8Array | undefined {
  const lower = text.toLowerCase();
  const halves = lower.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string, allowV4Tail: boolean): number[] | undefined => {
    if (part === '') return [];
    const groups = part.split(':');
    const out: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i] as string;
      if (allowV4Tail && i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (v4 === undefined) return undefined;
        out.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
      } else {
        if (!HEX_GROUP.test(g)) return undefined;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  let groups: number[];
  if (halves.length === 1) {
    const all = parseGroups(lower, true);
    if (all === undefined || all.length !== 8) return undefined;
    groups = all;
  } else {
    const head = parseGroups(halves[0] as string, false);
    const tail = parseGroups(halves[1] as string, true);
    if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Whether `bytes` is an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`): 16 bytes, ten zero, then 0xff 0xff. */
export function isIPv4Mapped(bytes: Uint8Array): boolean {
  return bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * Canonical text of a 4- or 16-byte address: dotted quad, or RFC 5952 (lower-case, leading zeros dropped, the
 * longest run of two or more zero groups — the first on a tie — as `::`, and `::ffff:a.b.c.d` for mapped IPv4).
 */
export function formatIpAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join('.');
  if (bytes.length !== 16) throw new RangeError('an IP address has 4 or 16 bytes');
  if (isIPv4Mapped(bytes)) return `::ffff:${Array.from(bytes.subarray(12)).join('.')}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/**
 * True for an address of this host's loopback: 127.0.0.0/8, ::1, and 127.x written IPv4-mapped. False for anything
 * that is not an IP address.
 */
export function isLoopbackAddress(text: string): boolean {
  const bytes = parseIPv4(text) ?? parseIPv6(withoutZone(text));
  if (bytes === undefined) return false;
  if (bytes.length === 4) return bytes[0] === 127;
  if (isIPv4Mapped(bytes)) return bytes[12] === 127;
  return bytes.every((byte, i) => byte === (i === 15 ? 1 : 0));
}
