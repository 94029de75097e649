/**
 * Real nginx peers for passthrough tests: an HTTPS backend (the web server the daemon hands non-ACME connections
 * to, optionally behind PROXY protocol) and a `stream` + `ssl_preread` front that routes `acme-tls/1` to the
 * daemon. Each instance runs from its own temp prefix on a loopback port picked at run time, and is stopped on
 * teardown.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Test } from 'tap';
import { cleanEnv, freePort, GiveUp, spawnManaged, waitUntil, type ManagedProcess } from './daemon.js';
import { shortTempDir } from './tmp.js';

const execFileAsync = promisify(execFile);

/** Binaries {@link startNginx} needs (openssl makes the backend's certificate). */
export const NGINX_PEERS = ['nginx', 'openssl'] as const;

/** Debian's libnginx-mod-stream; the nginx binary is built with `--with-stream=dynamic`. */
export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** A TCP address as `host` (IPv4 or IPv6 literal, no brackets) and port. */
export interface Endpoint {
  host: string;
  port: number;
}

/** `host:port`, bracketing IPv6 literals, as nginx and HAProxy want addresses. */
export function formatEndpoint({ host, port }: Endpoint): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Options of the HTTPS backend mode of {@link startNginx}. */
export interface NginxHttpsBackendOptions {
  mode: 'https-backend';
  /** Listen address, `127.0.0.1` by default. */
  host?: string;
  /** Names in the self-signed certificate and `server_name`; `backend.example.test` by default. */
  serverNames?: readonly string[];
  /** `proxy_protocol` on the listen: every connection must then start with a PROXY v1 or v2 header. */
  proxyProtocol?: boolean;
  /** `real_ip_header proxy_protocol` from loopback, so `$remote_addr` becomes the PROXY source. Needs `proxyProtocol`. */
  realIp?: boolean;
  /** Sizes served at `/bytes/<n>`; 0 B, 1 KiB and 10 MiB by default. */
  bodySizes?: readonly number[];
  timeoutMs?: number;
}

/** Options of the stream front mode of {@link startNginx} (nginx in front of the daemon). */
export interface NginxStreamFrontOptions {
  mode: 'stream-front';
  /** Listen address, `127.0.0.1` by default. */
  host?: string;
  /** Where ClientHellos offering `acme-tls/1` go (the daemon). */
  acme: Endpoint;
  /** Where every other connection goes (the web server). */
  backend: Endpoint;
  /** `proxy_protocol on` towards both upstreams; nginx's stream module only sends v1. */
  proxyProtocol?: boolean;
  timeoutMs?: number;
}

/**
 * Options of the snippet mode of {@link startNginx}: configuration written outside the harness (the operator
 * snippets of docs/layouts.md), run as given. The render functions get the port the harness picked on `host`.
 */
export interface NginxSnippetOptions {
  mode: 'snippet';
  /** Where the picked port is free, `127.0.0.1` by default. */
  host?: string;
  /**
   * Blocks for inside `http {}`, e.g. a `server {}`; the harness adds the temp paths that keep nginx in its prefix.
   * `accessLogPath` is the instance's {@link NginxInstance.accessLogPath}, for the snippet's `access_log`.
   */
  http?: (port: number, accessLogPath: string) => string;
  /** Top-level blocks, e.g. a whole `stream {}`; the stream module is loaded for them. */
  main?: (port: number, accessLogPath: string) => string;
  timeoutMs?: number;
}

/** What every mode returns. */
export interface NginxInstance {
  readonly process: ManagedProcess;
  /** nginx's `-p` prefix: config, logs, temp paths, document root. */
  readonly prefix: string;
  readonly host: string;
  readonly port: number;
  readonly errorLogPath: string;
  readonly accessLogPath: string;
  readErrorLog(): Promise<string>;
  /** SIGTERM to the process group, SIGKILL after a grace period; safe to call twice (teardown calls it too). */
  stop(): Promise<number | string>;
}

/** One body served by the HTTPS backend. */
export interface BackendBody {
  size: number;
  /** Request path, `/bytes/<size>`. */
  urlPath: string;
  /** Hex SHA-256 of the exact bytes served. */
  sha256: string;
}

/** One access log line of the HTTPS backend (nginx variables, empty string when unset). */
export interface NginxHttpAccessLogEntry {
  remoteAddr: string;
  /** The connection's real peer when `realIp` replaced `remoteAddr`, otherwise equal to it. */
  realipRemoteAddr: string;
  proxyProtocolAddr: string;
  proxyProtocolPort: string;
  /** `HTTP/1.1`, `HTTP/2.0`. */
  serverProtocol: string;
  /** Request line, e.g. `GET /bytes/0 HTTP/1.1`. */
  request: string;
  status: number;
  bodyBytesSent: number;
  sslServerName: string;
  /** ALPN protocol the TLS handshake settled on. */
  alpn: string;
}

/** A running HTTPS backend. */
export interface NginxHttpsBackend extends NginxInstance {
  /** Self-signed certificate; also the CA that verifies it. */
  readonly certPath: string;
  readonly keyPath: string;
  readonly serverNames: readonly string[];
  readonly bodies: readonly BackendBody[];
  /** Access log lines written so far (nginx writes a line when a request completes). */
  readAccessLog(): Promise<NginxHttpAccessLogEntry[]>;
}

/** One access log line of the stream front (written when a proxied session ends). */
export interface NginxStreamAccessLogEntry {
  remoteAddr: string;
  remotePort: string;
  /** Comma-separated ALPN list of the ClientHello, as `$ssl_preread_alpn_protocols`. */
  alpnProtocols: string;
  serverName: string;
  upstreamAddr: string;
  status: number;
  bytesSent: number;
  bytesReceived: number;
}

/** A running stream front. */
export interface NginxStreamFront extends NginxInstance {
  readAccessLog(): Promise<NginxStreamAccessLogEntry[]>;
}

/**
 * Bytes that differ at every offset and per size (xorshift32 seeded with the size), so a truncated, shifted or
 * swapped body changes the digest.
 */
function deterministicBytes(size: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4));
  let state = (size ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    words[i] = state;
  }
  return Buffer.from(words.buffer, 0, size);
}

/** A self-signed P-256 certificate for `names`, 127.0.0.1 and ::1, written as `backend.pem` / `backend.key` in `dir`. */
export async function makeSelfSignedCertificate(dir: string, names: readonly string[]): Promise<{ certPath: string; keyPath: string }> {
  const certPath = path.join(dir, 'backend.pem');
  const keyPath = path.join(dir, 'backend.key');
  const san = [...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1', 'IP:::1'].join(',');
  await execFileAsync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', keyPath, '-out', certPath, '-days', '2',
    '-subj', `/CN=${names[0] ?? 'backend.example.test'}`,
    '-addext', `subjectAltName=${san}`,
  ]);
  return { certPath, keyPath };
}

/** Lines of an nginx `escape=json` log, or none before the first request has created the file. */
async function readJsonLines<T>(file: string): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T);
}

/** Everything outside `http {}` / `stream {}` that keeps nginx inside its prefix. */
function mainContext(prefix: string, body: string, loadStream: boolean): string {
  return [
    loadStream ? `load_module ${NGINX_STREAM_MODULE};` : '',
    // Workers otherwise switch to nobody, who cannot enter the 0700 temp dir.
    process.getuid?.() === 0 ? 'user root root;' : '',
    'worker_processes 1;',
    `pid ${path.join(prefix, 'nginx.pid')};`,
    `error_log ${path.join(prefix, 'error.log')} info;`,
    'events { worker_connections 256; }',
    body,
    '',
  ].join('\n');
}

/** `http {}` directives that keep nginx's temp files inside its prefix (the built-in paths are root-owned). */
function httpTempPaths(prefix: string): string {
  const directives = { client_body_temp_path: 'body', proxy_temp_path: 'proxy', fastcgi_temp_path: 'fastcgi', uwsgi_temp_path: 'uwsgi', scgi_temp_path: 'scgi' };
  return Object.entries(directives).map(([directive, dir]) => `  ${directive} ${path.join(prefix, 'temp', dir)};`).join('\n');
}

function httpsBackendConfig(prefix: string, listen: string, options: NginxHttpsBackendOptions, cert: { certPath: string; keyPath: string }, names: readonly string[]): string {
  // Unquoted numbers are safe: $status and $body_bytes_sent are always digits.
  const format = [
    '{"remoteAddr":"$remote_addr","realipRemoteAddr":"$realip_remote_addr",',
    '"proxyProtocolAddr":"$proxy_protocol_addr","proxyProtocolPort":"$proxy_protocol_port",',
    '"serverProtocol":"$server_protocol","request":"$request","status":$status,"bodyBytesSent":$body_bytes_sent,',
    '"sslServerName":"$ssl_server_name","alpn":"$ssl_alpn_protocol"}',
  ].join('');
  return `http {
${httpTempPaths(prefix)}
  access_log off;
  sendfile on;
  log_format harness escape=json '${format}';
  server {
    listen ${listen} ssl http2${options.proxyProtocol ? ' proxy_protocol' : ''};
    server_name ${names.join(' ')};
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    access_log ${path.join(prefix, 'access.log')} harness;
    root ${path.join(prefix, 'html')};
${options.realIp ? '    set_real_ip_from 127.0.0.1;\n    set_real_ip_from ::1;\n    real_ip_header proxy_protocol;\n' : ''}    location /bytes/ {
      default_type application/octet-stream;
    }
  }
}`;
}

function streamFrontConfig(prefix: string, listen: string, options: NginxStreamFrontOptions): string {
  const format = [
    '{"remoteAddr":"$remote_addr","remotePort":"$remote_port","alpnProtocols":"$ssl_preread_alpn_protocols",',
    '"serverName":"$ssl_preread_server_name","upstreamAddr":"$upstream_addr","status":$status,',
    '"bytesSent":$bytes_sent,"bytesReceived":$bytes_received}',
  ].join('');
  // Whole list elements only: `\b` would also match e.g. `x-acme-tls/1`, since `-` is a word boundary.
  return `stream {
  log_format harness escape=json '${format}';
  access_log ${path.join(prefix, 'access.log')} harness;
  map $ssl_preread_alpn_protocols $alpn_upstream {
    "~(^|,)acme-tls/1(,|$)" ${formatEndpoint(options.acme)};
    default ${formatEndpoint(options.backend)};
  }
  server {
    listen ${listen};
    ssl_preread on;
    proxy_pass $alpn_upstream;
    proxy_protocol ${options.proxyProtocol ? 'on' : 'off'};
  }
}`;
}

/**
 * Runs nginx from `prefix` with the config `render(port)` on a port free just before, retrying on a new port if
 * something took it in between. Ready means nginx has written its pid file: it does so only after every listen
 * socket is bound and listening, and unlike a probe connection this leaves no line in the access logs and no
 * session at the upstreams.
 */
async function runNginx(prefix: string, host: string, render: (listen: string, port: number) => string, timeoutMs: number): Promise<{ process: ManagedProcess; port: number }> {
  const confPath = path.join(prefix, 'nginx.conf');
  const pidPath = path.join(prefix, 'nginx.pid');
  const errorLogPath = path.join(prefix, 'error.log');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort([host]);
    await writeFile(confPath, render(formatEndpoint({ host, port }), port));
    await rm(pidPath, { force: true });
    const proc = spawnManaged(
      'nginx',
      'nginx',
      // -e: errors before the config is read would otherwise go to the built-in path.
      ['-p', prefix, '-c', confPath, '-e', errorLogPath, '-g', 'daemon off; master_process on;'],
      { cwd: prefix, env: cleanEnv() },
    );
    try {
      await waitUntil(
        `nginx listening on ${formatEndpoint({ host, port })}`,
        async () => {
          const state = proc.exitState();
          if (state !== undefined) throw new GiveUp(`nginx exited (${state})`);
          const pid = await readFile(pidPath, 'utf8').catch(() => '');
          return pid.trim() !== '' && Number(pid) === proc.child.pid ? true : undefined;
        },
        timeoutMs,
      );
      return { process: proc, port };
    } catch (error) {
      await proc.stop();
      const log = await readFile(errorLogPath, 'utf8').catch(() => '');
      if (attempt < 3 && /Address already in use/.test(log)) continue;
      throw new Error(`${(error as Error).message}\n--- nginx output ---\n${proc.output()}\n--- ${errorLogPath} ---\n${log}`);
    }
  }
}

/**
 * Starts nginx as an HTTPS backend: `listen <host>:<port> ssl http2 [proxy_protocol]` with a self-signed
 * certificate for `serverNames`, `/bytes/<n>` serving exactly n deterministic bytes, and a JSON access log.
 */
export function startNginx(t: Test, options: NginxHttpsBackendOptions): Promise<NginxHttpsBackend>;
/**
 * Starts nginx as a `stream` front: `ssl_preread` routes ClientHellos offering `acme-tls/1` to `acme` and every
 * other connection to `backend`, optionally with a PROXY v1 header, and logs each session as JSON.
 */
export function startNginx(t: Test, options: NginxStreamFrontOptions): Promise<NginxStreamFront>;
/** Starts nginx with the blocks `options` renders for the port picked (see {@link NginxSnippetOptions}). */
export function startNginx(t: Test, options: NginxSnippetOptions): Promise<NginxInstance>;
export async function startNginx(
  t: Test,
  options: NginxHttpsBackendOptions | NginxStreamFrontOptions | NginxSnippetOptions,
): Promise<NginxHttpsBackend | NginxStreamFront | NginxInstance> {
  const prefix = shortTempDir(t, 'ar-nginx-');
  const host = options.host ?? '127.0.0.1';
  const timeoutMs = options.timeoutMs ?? 60_000;
  const errorLogPath = path.join(prefix, 'error.log');
  const accessLogPath = path.join(prefix, 'access.log');
  await mkdir(path.join(prefix, 'temp'));
  /** What every mode returns about the running nginx; it is stopped on teardown. */
  const instance = (proc: ManagedProcess, port: number) => {
    t.teardown(() => proc.stop());
    return { process: proc, prefix, host, port, errorLogPath, accessLogPath, readErrorLog: () => readFile(errorLogPath, 'utf8'), stop: () => proc.stop() };
  };

  if (options.mode === 'stream-front') {
    const { process: proc, port } = await runNginx(prefix, host, (listen) => mainContext(prefix, streamFrontConfig(prefix, listen, options), true), timeoutMs);
    return { ...instance(proc, port), readAccessLog: () => readJsonLines<NginxStreamAccessLogEntry>(accessLogPath) };
  }

  if (options.mode === 'snippet') {
    const { http, main } = options;
    const render = (_listen: string, port: number): string =>
      mainContext(
        prefix,
        [http ? `http {\n${httpTempPaths(prefix)}\n${http(port, accessLogPath)}\n}` : '', main?.(port, accessLogPath) ?? ''].join('\n'),
        main !== undefined,
      );
    const { process: proc, port } = await runNginx(prefix, host, render, timeoutMs);
    return instance(proc, port);
  }

  if (options.realIp && !options.proxyProtocol) throw new Error('realIp needs proxyProtocol: the real IP comes from the PROXY header');
  const serverNames = options.serverNames ?? ['backend.example.test'];
  const cert = await makeSelfSignedCertificate(prefix, serverNames);
  const bytesDir = path.join(prefix, 'html', 'bytes');
  await mkdir(bytesDir, { recursive: true });
  const bodies: BackendBody[] = [];
  for (const size of options.bodySizes ?? [0, 1024, 10 * 1024 * 1024]) {
    const content = deterministicBytes(size);
    await writeFile(path.join(bytesDir, String(size)), content);
    bodies.push({ size, urlPath: `/bytes/${size}`, sha256: createHash('sha256').update(content).digest('hex') });
  }
  const { process: proc, port } = await runNginx(
    prefix,
    host,
    (listen) => mainContext(prefix, httpsBackendConfig(prefix, listen, options, cert, serverNames), false),
    timeoutMs,
  );
  return {
    ...instance(proc, port),
    certPath: cert.certPath,
    keyPath: cert.keyPath,
    serverNames,
    bodies,
    readAccessLog: () => readJsonLines<NginxHttpAccessLogEntry>(accessLogPath),
  };
}
