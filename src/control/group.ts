import { findAccountEntry } from '../account-file.js';
import { AlpnResponderError } from '../errors.js';

/**
 * Resolves `--control-group` to a gid: a number as is, a name through the text of /etc/group (Node has no
 * getgrnam; systems using NSS-only groups can pass the number).
 */
export function groupId(group: string, groupText: string): number {
  if (/^\d{1,10}$/.test(group)) return Number(group);
  const gid = findAccountEntry(groupText, group)?.[2];
  if (gid !== undefined && /^\d{1,10}$/.test(gid)) return Number(gid);
  throw new AlpnResponderError('ERR_BAD_GROUP', `no group ${JSON.stringify(group)} in /etc/group; create it or pass a numeric gid`);
}

/**
 * Parses the control socket's octal file mode such as `0660` or `660`. The mode is the socket's only access control
 * (whoever may connect may deploy), so a mode that grants "other" anything is refused.
 */
export function parseMode(text: string): number {
  if (!/^0?[0-7]{3}$/.test(text)) {
    throw new AlpnResponderError('ERR_BAD_MODE', `mode ${JSON.stringify(text)} is not an octal mode such as 0660`);
  }
  const mode = Number.parseInt(text, 8);
  if ((mode & 0o007) !== 0) {
    throw new AlpnResponderError(
      'ERR_BAD_MODE',
      `mode ${formatMode(mode)} gives others access, and the mode is the control socket's only access control`,
    );
  }
  return mode;
}

/** A file mode as an operator writes it: `0660`, never `660` or `7`. */
export function formatMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}
