/**
 * Shared by the deployment-layout tests (test/passthrough.test.ts, test/front-proxy.test.ts): the daemon run
 * in-process with its log events kept, the CA's side of a TLS-ALPN-01 validation, and the operator snippets of
 * docs/layouts.md, which those tests feed to the real nginx, HAProxy and daemon.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { Test } from 'tap';
import type { CertificateCheck } from '../../src/diagnostics/verify.js';
import { validateAsCa } from './ca-check.js';
import { REPO_ROOT, startDaemon, type Daemon as CliDaemon } from './daemon.js';
import { formatEndpoint, makeSelfSignedCertificate, startNginx, type Endpoint, type NginxInstance } from './nginx.js';
import { shortTempDir } from './tmp.js';

export { dehydratedDigestOf as dehydratedDigest } from './ca-check.js';
export { startInProcessDaemon, type InProcessDaemon } from './in-process-daemon.js';

/** What the CA saw in one validation attempt. */
export interface AcmeValidation {
  /** The CA's verdict on the certificate (`{ ok: true }` passes). */
  readonly check: CertificateCheck;
  readonly alpn: string | false | null;
  /** The client's port, as a PROXY header and the daemon's log name it. */
  readonly localPort: number;
}

/**
 * {@link validateAsCa} for `name`, expecting the digest `deploy` of {@link startInProcessDaemon} deploys; `proxyHeader`
 * is sent first, as a front proxy would. Rejects when the handshake fails.
 */
export async function validateAcme(to: Endpoint, name: string, proxyHeader?: string | Uint8Array): Promise<AcmeValidation> {
  const validation = await validateAsCa(to, name, { proxyHeader });
  if (!validation.ok) throw new Error(`TLS handshake with ${formatEndpoint(to)} for ${name} failed: ${validation.error}`);
  const { check, alpn, localPort } = validation;
  return { check, alpn, localPort };
}

/** How a TLS client attempt ended. */
export interface TlsAttempt {
  readonly handshake: boolean;
  /** `code: message` of the client's error, if any. */
  readonly error: string | undefined;
  /** True when the connection was still open `timeoutMs` after connecting: the hang these tests rule out. */
  readonly hung: boolean;
}

/** A TLS handshake attempt that always settles: handshake done, error, or hung after `timeoutMs`. */
export function attemptTls(to: Endpoint, options: tls.ConnectionOptions, timeoutMs = 30_000): Promise<TlsAttempt> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: to.host, port: to.port, rejectUnauthorized: false, ...options });
    const settle = (result: TlsAttempt): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => settle({ handshake: false, error: undefined, hung: true }), timeoutMs);
    socket.once('secureConnect', () => settle({ handshake: true, error: undefined, hung: false }));
    socket.once('error', (error: NodeJS.ErrnoException) => settle({ handshake: false, error: `${error.code}: ${error.message}`, hung: false }));
    socket.once('close', () => settle({ handshake: false, error: undefined, hung: false }));
  });
}

/**
 * Every snippet docs/layouts.md marks as tested. The layout tests read each by name, and check that the document
 * marks no other, so a snippet added without a test is caught.
 */
export const SNIPPET_NAMES = [
  'daemon-alone',
  'dehydrated-config',
  'nginx-backend',
  'daemon-in-front',
  'nginx-stream',
  'haproxy',
  'daemon-behind-front',
] as const;

export type SnippetName = (typeof SNIPPET_NAMES)[number];

export const LAYOUTS_DOC = path.join(REPO_ROOT, 'docs', 'layouts.md');

const MARKER = /^<!-- snippet: (\S+) -->$/gm;

/** Names of every snippet marker in docs/layouts.md, in document order. */
export async function snippetMarkers(): Promise<string[]> {
  return [...(await readFile(LAYOUTS_DOC, 'utf8')).matchAll(MARKER)].map((match) => match[1] ?? '');
}

/** The body of the fenced block right after `<!-- snippet: NAME -->`; throws unless there is exactly one. */
export async function readSnippet(name: SnippetName): Promise<string> {
  const text = await readFile(LAYOUTS_DOC, 'utf8');
  const blocks = [...text.matchAll(/^<!-- snippet: (\S+) -->\n+```[\w-]*\n([^]*?)^```$/gm)].filter((match) => match[1] === name);
  const body = blocks[0]?.[2];
  if (blocks.length !== 1 || body === undefined) {
    throw new Error(`${path.relative(REPO_ROOT, LAYOUTS_DOC)}: ${blocks.length} fenced blocks after <!-- snippet: ${name} --> (want 1)`);
  }
  return body;
}

/**
 * Replaces each literal of `values` in a snippet wherever it stands alone — not part of a longer address, number,
 * name or path — and throws when one is not there at all, so a snippet edited away from the placeholders
 * docs/layouts.md lists fails loudly instead of running half-substituted.
 */
export function substitute(snippet: string, values: Readonly<Record<string, string>>): string {
  let text = snippet;
  for (const [literal, value] of Object.entries(values)) {
    const pattern = new RegExp(`(?<![\\w.:/-])${literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w.:/-])`, 'g');
    if (!pattern.test(text)) throw new Error(`snippet has no standalone ${JSON.stringify(literal)}:\n${snippet}`);
    text = text.replace(pattern, () => value);
  }
  return text;
}

/**
 * The arguments after `alpn-responder serve` of a one-command `sh` snippet. Continuation lines are joined and
 * words split on blanks, with single quotes removed; the snippets keep to that much shell, which is checked.
 */
export function serveArguments(snippet: string): string[] {
  const line = snippet.replace(/\\\n/g, ' ').trim();
  if (line.includes('\n') || /["$`\\#]/.test(line)) throw new Error(`not a single plain command:\n${snippet}`);
  const words = line.split(/\s+/).map((word) => (/^'[^']*'$/.test(word) ? word.slice(1, -1) : word));
  if (words[0] !== 'alpn-responder' || words[1] !== 'serve' || words.some((word) => word.includes("'"))) {
    throw new Error(`not an \`alpn-responder serve\` command with whole-word quoting:\n${snippet}`);
  }
  return words.slice(2);
}

/** The web server of layouts (b) and (c): nginx running the `nginx-backend` snippet. */
export interface DocumentedWebServer {
  readonly nginx: NginxInstance;
  /** Its self-signed certificate for example.org and www.example.org, which verifies it. */
  readonly ca: Buffer;
  /** The bytes served at `/index.html`. */
  readonly page: Buffer;
  /** Access log lines so far, in nginx's default `combined` format (client address first). */
  accessLog(): Promise<string[]>;
}

/** Starts nginx with the `nginx-backend` snippet, its placeholders replaced by a test certificate and paths. */
export async function startDocumentedWebServer(t: Test): Promise<DocumentedWebServer> {
  const dir = shortTempDir(t, 'ar-web-');
  const cert = await makeSelfSignedCertificate(dir, ['example.org', 'www.example.org']);
  const root = path.join(dir, 'www');
  await mkdir(root);
  const page = Buffer.from('<!doctype html><title>example.org</title>\n'.repeat(100));
  await writeFile(path.join(root, 'index.html'), page);
  const snippet = await readSnippet('nginx-backend');
  const nginx = await startNginx(t, {
    mode: 'snippet',
    http: (port, accessLogPath) =>
      substitute(snippet, {
        '127.0.0.1:8443': `127.0.0.1:${port}`,
        '/var/lib/dehydrated/certs/example.org/fullchain.pem': cert.certPath,
        '/var/lib/dehydrated/certs/example.org/privkey.pem': cert.keyPath,
        '/var/www/example.org': root,
        '/var/log/nginx/example.org.access.log': accessLogPath,
      }),
  });
  return {
    nginx,
    ca: await readFile(cert.certPath),
    page,
    accessLog: async () => (await readFile(nginx.accessLogPath, 'utf8')).split('\n').filter((line) => line !== ''),
  };
}

/**
 * Runs the built CLI with the arguments of a daemon command snippet, after `values` and the control group
 * (`dehydrated` → the test user's group) are substituted; the control socket goes to a scratch directory.
 */
export async function startDocumentedDaemon(
  t: Test,
  name: 'daemon-alone' | 'daemon-in-front' | 'daemon-behind-front',
  values: Readonly<Record<string, string>>,
): Promise<CliDaemon> {
  const command = substitute(await readSnippet(name), { ...values, '--control-group dehydrated': `--control-group ${os.userInfo().gid}` });
  const daemon = await startDaemon({ listen: [], dir: shortTempDir(t), args: serveArguments(command) });
  t.teardown(() => daemon.stop());
  return daemon;
}
