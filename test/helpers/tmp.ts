import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';

/**
 * A fresh temporary directory with a short path, removed after the test. Unix socket paths are limited to 107
 * bytes, which tap's own fixture directories exceed.
 */
export function shortTempDir(t: Test, prefix = 'ar-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
