/**
 * Socket activation, the process side: reads and unsets the LISTEN_* variables, and opens the passed descriptors as
 * listening servers sorted by role (see {@link sortPassedSockets}).
 */
import net from 'node:net';
import { AlpnResponderError } from '../errors.js';
import type { Logger } from '../log.js';
import { LISTEN_ENV, parseListenFds, sortPassedSockets, type PassedDescriptor, type PassedSocket, type SocketRoles } from './listen-fds.js';

/** A passed socket, open and listening. */
export interface OpenedSocket extends PassedSocket {
  readonly server: net.Server;
}

/**
 * The descriptors systemd passed to this process (none: an empty list). The LISTEN_* variables are removed from
 * `env` either way, as sd_listen_fds(3) does, so no child process takes the sockets for its own.
 */
export function takeListenFds(env: NodeJS.ProcessEnv, pid: number, log: Logger): readonly PassedDescriptor[] {
  const present = LISTEN_ENV.filter((name) => env[name] !== undefined);
  if (present.length === 0) return [];
  const seen = Object.fromEntries(present.map((name) => [name.toLowerCase(), env[name]]));
  try {
    return parseListenFds(env, pid) ?? [];
  } finally {
    for (const name of present) delete env[name];
    log.log('info', 'listen-fds', { ...seen, pid, unset: present });
  }
}

function open(descriptor: PassedDescriptor): OpenedSocket {
  // Both roles want these: TLS connections half-close on their own during passthrough, control clients end their
  // side before reading the reply; Nagle would only delay handshake records.
  const server = net.createServer({ allowHalfOpen: true, noDelay: true });
  // With `fd`, listen() opens the handle synchronously; a failure is only emitted later, as 'error'.
  server.listen({ fd: descriptor.fd });
  if (!server.listening) {
    server.once('error', () => undefined);
    throw new AlpnResponderError(
      'ERR_SYSTEMD_SOCKET',
      `fd ${descriptor.fd} is not a listening stream socket (TCP or Unix); check ListenStream= in the .socket unit`,
    );
  }
  // A TCP socket reports its address; a Unix socket opened from a descriptor reports none.
  const address = server.address();
  return { ...descriptor, server, unix: address === null || typeof address === 'string' };
}

/**
 * Opens every passed descriptor and sorts them into TLS listeners and the control socket. Connections (systemd may
 * have queued some already) are accepted from the next turn of the event loop on, so the caller must attach its
 * 'connection' listeners before it awaits anything. On failure the descriptors opened so far are closed again.
 */
export function openPassedSockets(descriptors: readonly PassedDescriptor[]): SocketRoles<OpenedSocket> {
  const opened: OpenedSocket[] = [];
  try {
    for (const descriptor of descriptors) opened.push(open(descriptor));
    return sortPassedSockets(opened);
  } catch (error) {
    for (const { server } of opened) server.close();
    throw error;
  }
}
