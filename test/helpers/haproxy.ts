/**
 * A real HAProxy in front of the daemon (the layout where the proxy owns port 443): it inspects the ClientHello
 * and routes `acme-tls/1` to the daemon and everything else to the web server, optionally with a PROXY header.
 */
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { Test } from 'tap';
import { cleanEnv, freePort, GiveUp, spawnManaged, waitUntil, type ManagedProcess } from './daemon.js';
import { formatEndpoint, type Endpoint } from './nginx.js';
import { shortTempDir } from './tmp.js';

/** Binaries {@link startHaproxy} needs. */
export const HAPROXY_PEERS = ['haproxy'] as const;

/** Options of {@link startHaproxy}. */
export interface HaproxyFrontOptions {
  /** Listen address, `127.0.0.1` by default. */
  host?: string;
  /** Where ClientHellos offering `acme-tls/1` go (the daemon). */
  acme: Endpoint;
  /** Where every other connection goes (the web server). */
  backend: Endpoint;
  /** `send-proxy` (v1) or `send-proxy-v2` on both servers; none by default. */
  proxyProtocol?: 'v1' | 'v2';
  timeoutMs?: number;
}

/**
 * Options of {@link startHaproxy} for configuration written outside the harness (the operator snippets of
 * docs/layouts.md): its `frontend` / `backend` sections run after the harness's `global` and `defaults`.
 */
export interface HaproxySnippetOptions {
  /** Where the picked port is free, `127.0.0.1` by default. */
  host?: string;
  /** The sections, given the port the harness picked on `host`. */
  sections: (port: number) => string;
  timeoutMs?: number;
}

/** A running HAProxy front. */
export interface HaproxyFront {
  readonly process: ManagedProcess;
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  /** SIGTERM to the process group, SIGKILL after a grace period; safe to call twice (teardown calls it too). */
  stop(): Promise<number | string>;
}

function frontSections(listen: string, options: HaproxyFrontOptions): string {
  const send = options.proxyProtocol === 'v1' ? ' send-proxy' : options.proxyProtocol === 'v2' ? ' send-proxy-v2' : '';
  return `frontend tls
  bind ${listen}
  tcp-request inspect-delay 5s
  tcp-request content accept if { req.ssl_hello_type 1 }
  use_backend acme if { req.ssl_alpn acme-tls/1 }
  default_backend web

backend acme
  server acme ${formatEndpoint(options.acme)}${send}

backend web
  server web ${formatEndpoint(options.backend)}${send}
`;
}

function config(dir: string, sections: string): string {
  return `global
  stats socket ${path.join(dir, 'stats.sock')} level user
  # One tcplog line per session in the process output, for failure diagnostics.
  log stderr format raw local0 info

defaults
  mode tcp
  log global
  option tcplog
  timeout connect 5s
  timeout client 30s
  timeout server 30s

${sections}`;
}

/** `show info` on the stats socket: HAProxy answers only once it runs its event loop, after binding every listener. */
function statsAnswers(socketPath: string): Promise<true | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    let answer = '';
    socket.setEncoding('utf8');
    // A stuck answer must not hold waitUntil past its deadline.
    socket.setTimeout(1_000, () => socket.destroy(new Error('no answer on the stats socket within 1 s')));
    socket.on('connect', () => socket.write('show info\n'));
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(/^Name: HAProxy$/m.test(answer) ? true : undefined));
    socket.on('error', reject);
  });
}

/**
 * Starts `haproxy -db` (foreground) as a TCP front on a port free just before, retrying on a new port if
 * something took it in between. Readiness comes from the stats socket rather than a probe connection, which
 * HAProxy would forward to the web backend once the client closed.
 */
export async function startHaproxy(t: Test, options: HaproxyFrontOptions | HaproxySnippetOptions): Promise<HaproxyFront> {
  const dir = shortTempDir(t, 'ar-haproxy-');
  const host = options.host ?? '127.0.0.1';
  const confPath = path.join(dir, 'haproxy.cfg');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort([host]);
    const sections = 'sections' in options ? options.sections(port) : frontSections(formatEndpoint({ host, port }), options);
    await writeFile(confPath, config(dir, sections));
    const proc = spawnManaged('haproxy', 'haproxy', ['-db', '-f', confPath], { cwd: dir, env: cleanEnv() });
    try {
      await waitUntil(
        `haproxy listening on ${formatEndpoint({ host, port })}`,
        () => {
          const state = proc.exitState();
          if (state !== undefined) throw new GiveUp(`haproxy exited (${state})`);
          return statsAnswers(path.join(dir, 'stats.sock'));
        },
        options.timeoutMs ?? 60_000,
      );
    } catch (error) {
      await proc.stop();
      if (attempt < 3 && /Address already in use/.test(proc.output())) continue;
      throw new Error(`${(error as Error).message}\n--- haproxy output ---\n${proc.output()}`);
    }
    t.teardown(() => proc.stop());
    return { process: proc, dir, host, port, stop: () => proc.stop() };
  }
}
