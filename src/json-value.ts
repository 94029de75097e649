/** Helpers for validating JSON read from files and Redis. */

/** A JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Shows any JSON value in a message, cut to `max` characters. Written out only as far as shown: each level of
 * nesting adds a character, so recursion stops within `max` levels, however deep the value (a config file of
 * 400,000 nested arrays overflows the stack of `JSON.stringify`), and a large value is not serialized whole.
 */
export function quoteValue(value: unknown, max = 40): string {
  let text = '';
  /** Appends `item`; false once more than `max` characters are written (the rest is never looked at). */
  const write = (item: unknown): boolean => {
    if (Array.isArray(item)) {
      text += '[';
      for (let i = 0; i < item.length; i++) {
        if (text.length > max || (i > 0 && (text += ',').length > max) || !write(item[i] ?? null)) return false;
      }
      text += ']';
    } else if (isJsonObject(item)) {
      text += '{';
      let first = true;
      for (const [key, entry] of Object.entries(item)) {
        if (entry === undefined) continue;
        text += `${first ? '' : ','}${JSON.stringify(key)}:`;
        first = false;
        if (text.length > max || !write(entry)) return false;
      }
      text += '}';
    } else {
      text += JSON.stringify(item) ?? String(item);
    }
    return text.length <= max;
  };
  write(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
