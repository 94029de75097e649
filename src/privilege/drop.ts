/**
 * The privilege drop behind `--user`: the daemon starts as root to open port 443 and its control socket, then
 * becomes an unprivileged account for good before it serves anything. (Under systemd, User= or DynamicUser= does
 * this instead.)
 */
import { AlpnResponderError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RunAs } from './run-as.js';

/** Refuses `--user` unless running as root, before anything is bound: only root can become another user. */
export function requireRoot(runAs: RunAs): void {
  const uid = process.getuid?.();
  if (uid !== 0) {
    throw new AlpnResponderError(
      'ERR_USER_NEEDS_ROOT',
      `--user ${runAs.spec} needs the daemon started as root, but it runs as uid ${uid ?? 'unknown'}`,
    );
  }
}

/**
 * Becomes `runAs` irrevocably: supplementary groups cleared (root's would otherwise stay), then the group, then the
 * user — in that order, as after setuid nothing else may be changed. As root, setgid and setuid set the real,
 * effective and saved ids, so root cannot be regained; the ids are checked afterwards all the same.
 */
export function dropPrivileges(runAs: RunAs, log: Logger): void {
  // The id functions exist on every POSIX platform, which requireRoot() has established already.
  try {
    process.setgroups!([]);
    process.setgid!(runAs.gid);
    process.setuid!(runAs.uid);
  } catch (error) {
    throw new AlpnResponderError('ERR_PRIVILEGE_DROP', `cannot become ${runAs.spec}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  const ids = [process.getuid!(), process.geteuid!(), process.getgid!(), process.getegid!()];
  // getgroups() always includes the effective gid (Node adds it), so "no supplementary groups" leaves only that one.
  const groups = process.getgroups!();
  if (ids.join() !== [runAs.uid, runAs.uid, runAs.gid, runAs.gid].join() || groups.some((gid) => gid !== runAs.gid)) {
    throw new AlpnResponderError('ERR_PRIVILEGE_DROP', `still uid/euid/gid/egid ${ids.join('/')} groups ${groups.join(',')} after becoming ${runAs.spec}`);
  }
  log.log('info', 'privileges-dropped', { user: runAs.spec, uid: runAs.uid, gid: runAs.gid });
}
