/**
 * `--user USER[:GROUP]` resolved against the text of /etc/passwd and /etc/group, as a pure function (the files are
 * read by the caller, see account-file.ts). Dropping to it is privilege/drop.ts's job.
 */
import { findAccountEntry } from '../account-file.js';
import { AlpnResponderError } from '../errors.js';

/** The account the daemon becomes once its sockets are open. */
export interface RunAs {
  /** `USER[:GROUP]` as given, for logs and messages. */
  readonly spec: string;
  readonly uid: number;
  readonly gid: number;
}

/** The account databases, as text. */
export interface AccountFiles {
  readonly passwd: string;
  readonly group: string;
}

const ID = /^\d{1,10}$/;

function badUser(spec: string, why: string): AlpnResponderError {
  return new AlpnResponderError('ERR_BAD_USER', `--user ${JSON.stringify(spec)}: ${why}`);
}

/** The /etc/passwd line of a user given by name or by uid. */
function passwdEntry(passwd: string, user: string): string[] | undefined {
  if (!ID.test(user)) return findAccountEntry(passwd, user);
  return passwd.split('\n').map((line) => line.split(':')).find((fields) => fields[2] === user);
}

/**
 * Resolves `USER[:GROUP]`: USER by name or uid, GROUP by name or gid, and without GROUP the user's primary group
 * from /etc/passwd. Numbers need no entry when both are given (`65534:65534`). Throws ERR_BAD_USER or ERR_BAD_GROUP.
 */
export function resolveRunAs(spec: string, files: AccountFiles): RunAs {
  const match = /^([^:\s]+)(?::([^:\s]+))?$/.exec(spec);
  if (match === null) throw badUser(spec, 'write it as USER or USER:GROUP (names or numeric ids)');
  const [, user = '', group] = match;
  const entry = passwdEntry(files.passwd, user);
  const uid = ID.test(user) ? user : entry?.[2];
  if (uid === undefined || !ID.test(uid)) throw badUser(spec, `no user ${JSON.stringify(user)} in /etc/passwd; create it or give a numeric uid`);
  let gid = entry?.[3];
  if (group !== undefined) {
    gid = ID.test(group) ? group : findAccountEntry(files.group, group)?.[2];
    if (gid === undefined || !ID.test(gid)) {
      throw new AlpnResponderError('ERR_BAD_GROUP', `--user ${JSON.stringify(spec)}: no group ${JSON.stringify(group)} in /etc/group; create it or give a numeric gid`);
    }
  }
  if (gid === undefined || !ID.test(gid)) throw badUser(spec, `uid ${uid} has no /etc/passwd entry to take its group from; write USER:GROUP`);
  return { spec, uid: Number(uid), gid: Number(gid) };
}
