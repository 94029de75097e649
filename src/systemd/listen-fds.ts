/**
 * systemd's socket-passing protocol (sd_listen_fds(3)) as pure functions: which descriptors were passed, and what
 * each one is for. Opening them is {@link ../systemd/passed-sockets.ts}'s job.
 */
import { AlpnResponderError } from '../errors.js';

/** First descriptor systemd passes (SD_LISTEN_FDS_START); the others follow without gaps. */
export const LISTEN_FDS_START = 3;

/** The variables of the protocol. They describe this process only, so they are unset once read. */
export const LISTEN_ENV = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const;

/** The name the control socket is given (`FileDescriptorName=control`, `--fdname=…:control`). */
const CONTROL_FD_NAME = 'control';

/** One descriptor systemd passed. */
export interface PassedDescriptor {
  readonly fd: number;
  /** Its entry in LISTEN_FDNAMES, or undefined when no names were passed. */
  readonly name: string | undefined;
}

/** A passed descriptor once opened, so its address family is known. */
export interface PassedSocket extends PassedDescriptor {
  /** True for a Unix socket, false for TCP. */
  readonly unix: boolean;
}

/** What the daemon does with each passed socket. */
export interface SocketRoles<T> {
  readonly tls: T[];
  readonly control: T | undefined;
}

function malformed(message: string): AlpnResponderError {
  return new AlpnResponderError('ERR_BAD_LISTEN_FDS', message);
}

/**
 * The descriptors passed to process `pid`, or undefined when none were: LISTEN_PID unset, or naming another process
 * (variables inherited from a parent that was socket-activated itself). Throws ERR_BAD_LISTEN_FDS when the variables
 * are meant for this process but malformed.
 */
export function parseListenFds(env: Readonly<Record<string, string | undefined>>, pid: number): PassedDescriptor[] | undefined {
  const listenPid = env.LISTEN_PID;
  if (listenPid === undefined) return undefined;
  if (!/^[1-9]\d{0,9}$/.test(listenPid)) throw malformed(`LISTEN_PID=${JSON.stringify(listenPid)} is not a process id`);
  if (Number(listenPid) !== pid) return undefined;
  const count = env.LISTEN_FDS;
  if (count === undefined || !/^[1-9]\d{0,4}$/.test(count)) {
    throw malformed(`LISTEN_FDS=${JSON.stringify(count ?? '')} is not a positive number of descriptors`);
  }
  const names = env.LISTEN_FDNAMES?.split(':');
  if (names !== undefined && names.length !== Number(count)) {
    throw malformed(`LISTEN_FDNAMES names ${names.length} descriptor(s), LISTEN_FDS passes ${count}`);
  }
  return Array.from({ length: Number(count) }, (_, index) => ({ fd: LISTEN_FDS_START + index, name: names?.[index] }));
}

// systemd names every socket of a unit without FileDescriptorName= after the unit (`alpn-responder.socket`), so
// such a name says nothing about the socket's role.
function isUnnamed(name: string | undefined): boolean {
  return name === undefined || name === '' || name.endsWith('.socket');
}

/**
 * Sorts passed sockets into TLS listeners and the control socket. A socket named `control` is the control socket;
 * any other name makes a TLS listener; without a name (or with systemd's default, the unit's name) a TCP socket is
 * a TLS listener and a Unix socket the control socket. The control socket must be a Unix socket (its commands are
 * unauthenticated: file permissions are the access control) and TLS listeners TCP; at most one control socket.
 */
export function sortPassedSockets<T extends PassedSocket>(sockets: readonly T[]): SocketRoles<T> {
  const tls: T[] = [];
  const controls: T[] = [];
  for (const socket of sockets) {
    const label = `fd ${socket.fd}${socket.name === undefined ? '' : ` (${JSON.stringify(socket.name)})`}`;
    const isControl = socket.name === CONTROL_FD_NAME || (isUnnamed(socket.name) && socket.unix);
    if (isControl && !socket.unix) {
      throw new AlpnResponderError('ERR_SYSTEMD_SOCKET', `${label} is a TCP socket; the control socket must be a Unix socket (ListenStream=/path)`);
    }
    if (!isControl && socket.unix) {
      throw new AlpnResponderError('ERR_SYSTEMD_SOCKET', `${label} is a Unix socket; TLS listeners must be TCP, and only the socket named "${CONTROL_FD_NAME}" is the control socket`);
    }
    (isControl ? controls : tls).push(socket);
  }
  if (controls.length > 1) {
    throw new AlpnResponderError('ERR_SYSTEMD_SOCKET', `${controls.length} control sockets passed (fds ${controls.map((s) => s.fd).join(', ')}); pass one`);
  }
  return { tls, control: controls[0] };
}
