/**
 * The ACME test CA and dehydrated runs for end-to-end tests (shared with `npm run demo`: demo/acme-stack.ts), and
 * ualpn, the reference responder that checks the harness independently of our daemon.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cleanEnv, spawnManaged, waitUntil, GiveUp, type ManagedProcess } from './daemon.js';

export {
  ACME_PEERS,
  addDnsRecord,
  certificateSans,
  runDehydrated,
  startAcmeStack,
  type AcmeStack,
  type AcmeStackOptions,
  type DehydratedOptions,
  type DehydratedRun,
  type IssuedCertificate,
} from '../../demo/acme-stack.js';
import { tcpReachable } from '../../demo/acme-stack.js';

/** A running ualpn (Debian uacme), the reference responder that checks the harness independently of our daemon. */
export interface Ualpn {
  readonly process: ManagedProcess;
  readonly socketPath: string;
  /** dehydrated hook that feeds ualpn (hex digest → base64url, as ualpn wants). */
  readonly hook: string;
  stop(): Promise<number | string>;
}

/** Starts `ualpn` on 127.0.0.1:`port` with its control socket in `dir`, and writes a dehydrated hook for it. */
export async function startUalpn(dir: string, port: number, timeoutMs = 60_000): Promise<Ualpn> {
  await mkdir(dir, { recursive: true });
  const socketPath = path.join(dir, 'ualpn.sock');
  const hook = path.join(dir, 'ualpn-hook.sh');
  // ualpn's client exits 1 even after answering OK, so only its answer counts.
  await writeFile(
    hook,
    `#!/bin/bash
set -euo pipefail
event=\${1:-}; shift || true
case "$event" in
  deploy_challenge)
    while [ $# -ge 3 ]; do
      escaped=$(printf '%s' "$3" | tr -d : | sed 's/../\\\\x&/g')
      # shellcheck disable=SC2059
      auth=$(printf "$escaped" | basenc --base64url -w0 | tr -d =)
      out=$(echo "auth $1 $auth" | ualpn -s '${socketPath}' || true)
      [[ $out == OK* ]] || { echo "ualpn: $out" >&2; exit 1; }
      shift 3
    done ;;
  clean_challenge)
    while [ $# -ge 3 ]; do echo "unauth $1" | ualpn -s '${socketPath}' >/dev/null || true; shift 3; done ;;
esac
exit 0
`,
    { mode: 0o755 },
  );
  const proc = spawnManaged(
    'ualpn',
    'ualpn',
    ['-b', `127.0.0.1@${port}`, '-c', '127.0.0.1@1', '-s', socketPath, '-p', path.join(dir, 'ualpn.pid'), '-n', '1', '-v'],
    { cwd: dir, env: cleanEnv() },
  );
  try {
    await waitUntil(
      'ualpn',
      async () => {
        const state = proc.exitState();
        if (state !== undefined) throw new GiveUp(`ualpn exited (${state})`);
        return (await tcpReachable('127.0.0.1', port)) && /control interface listening/.test(proc.output()) ? true : undefined;
      },
      timeoutMs,
    );
  } catch (error) {
    await proc.stop();
    throw new Error(`${(error as Error).message}\n--- ualpn ---\n${proc.output()}`);
  }
  return { process: proc, socketPath, hook, stop: () => proc.stop() };
}
