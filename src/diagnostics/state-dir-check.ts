/**
 * Whether the daemon can keep its `--state` file: the file is replaced by writing a temporary file beside it and
 * renaming it (store/file-journal.ts), so the directory must be writable, and every directory above it searchable,
 * by the account the daemon serves as (`--user`, which keeps no supplementary groups: privilege/drop.ts).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { readAccountFile } from '../account-file.js';
import { AlpnResponderError } from '../errors.js';
import { resolveRunAs, type RunAs } from '../privilege/run-as.js';
import type { Check } from './checklist.js';

/** The permission bits and owner of one path. */
export interface PathMode {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

/** Whether `account` has `bit` (4 read, 2 write, 1 search) on a path, as the kernel decides without ACLs. */
export function permits(info: PathMode, account: Pick<RunAs, 'uid' | 'gid'>, bit: number): boolean {
  if (account.uid === 0) return bit !== 1 || (info.mode & 0o111) !== 0;
  if (info.uid === account.uid) return ((info.mode >> 6) & bit) !== 0;
  if (info.gid === account.gid) return ((info.mode >> 3) & bit) !== 0;
  return (info.mode & bit) !== 0;
}

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * The state line: ✓ when `account` can replace `stateFile`, ✗ naming the directory that stops it otherwise.
 * `account` undefined: the daemon serves as whoever runs the doctor.
 */
export async function checkStateDirectory(stateFile: string, userSpec: string | undefined): Promise<Check> {
  let account: RunAs;
  try {
    account =
      userSpec === undefined
        ? { spec: `uid ${process.getuid?.() ?? 0}`, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }
        : resolveRunAs(userSpec, { passwd: await readAccountFile('/etc/passwd'), group: await readAccountFile('/etc/group') });
  } catch (error) {
    if (!(error instanceof AlpnResponderError)) throw error;
    return { id: 'state', status: 'fail', title: `state ${stateFile}: ${error.message}`, remedy: error.remedy };
  }
  const who = userSpec === undefined ? `this user (${account.spec})` : `--user ${userSpec} (uid ${account.uid}, gid ${account.gid})`;
  const directory = path.dirname(path.resolve(stateFile));
  const fail = (title: string, remedy: string): Check => ({ id: 'state', status: 'fail', title: `state ${stateFile}: ${title}`, remedy });
  const chain: string[] = [];
  for (let dir = directory; ; dir = path.dirname(dir)) {
    chain.unshift(dir);
    if (path.dirname(dir) === dir) break;
  }
  for (const dir of chain) {
    const info = await stat(dir).catch(() => undefined);
    if (info === undefined) {
      return fail(`${dir} does not exist`, `Create it for the daemon's user: install -d -o ${account.uid} -g ${account.gid} -m 0750 ${directory}`);
    }
    if (!permits(info, account, 1)) {
      return fail(`${who} cannot enter ${dir} (owner ${info.uid}:${info.gid}, mode ${octal(info.mode)})`, `Let it search the directory: chmod o+x ${dir}, or move --state below a directory it can enter.`);
    }
    if (dir === directory && !permits(info, account, 2)) {
      return fail(
        `${who} cannot write ${dir} (owner ${info.uid}:${info.gid}, mode ${octal(info.mode)}): the daemon replaces the state file by renaming a new one into this directory`,
        `chown ${account.uid}:${account.gid} ${dir} (the service's StateDirectory= does this), or choose a --state in a directory that user owns.`,
      );
    }
  }
  return { id: 'state', status: 'pass', title: `state ${stateFile}: ${directory} is writable by ${who}` };
}
