/**
 * The package's debian/copyright (machine-readable format 1.0): alpn-responder itself — its copyright line and MIT
 * terms taken from the repository's LICENSE — then every bundled npm module under /usr/lib/alpn-responder/node_modules
 * with the license its package.json declares.
 * `node --import @tapjs/typescript/import packaging/copyright.ts NODE_MODULES_DIR`
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';

interface Manifest {
  readonly name?: string;
  readonly version?: string;
  readonly license?: string | { readonly type?: string };
  readonly author?: string | { readonly name?: string };
}

/** Every `node_modules/<name>` and `node_modules/@scope/<name>` directory, nested ones included. */
function modules(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    if (entry.startsWith('.')) continue;
    const full = path.join(dir, entry);
    const children = entry.startsWith('@') ? readdirSync(full).sort().map((child) => path.join(full, child)) : [full];
    for (const child of children) {
      if (!existsSync(path.join(child, 'package.json'))) continue;
      found.push(child, ...modules(path.join(child, 'node_modules')));
    }
  }
  return found;
}

const licenseOf = (manifest: Manifest): string =>
  (typeof manifest.license === 'string' ? manifest.license : manifest.license?.type) ?? 'UNKNOWN';

const nodeModules = process.argv[2];
if (nodeModules === undefined) throw new Error('usage: copyright.ts NODE_MODULES_DIR');

/** LICENSE: `MIT License`, a blank line, `Copyright (c) …`, then the terms. */
const licenseFile = readFileSync(new URL('../LICENSE', import.meta.url), 'utf8');
const holder = /^MIT License\n\nCopyright \(c\) (.+)\n\n/.exec(licenseFile);
if (holder === null) throw new Error('LICENSE does not start with "MIT License" and a "Copyright (c) …" line');
/** The terms as DEP-5 wants them: LICENSE's lines, its blank lines as ".". */
const mitTerms = licenseFile.slice(holder[0].length).trim().split(/\n\s*\n/).join('\n.\n');

const out: string[] = [
  'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
  'Upstream-Name: alpn-responder',
  '',
  'Files: *',
  `Copyright: ${holder[1] ?? ''}`,
  'License: MIT',
  '',
];
const licenses = new Set(['MIT']);
for (const dir of modules(nodeModules)) {
  const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;
  const license = licenseOf(manifest);
  licenses.add(license);
  const author = typeof manifest.author === 'string' ? manifest.author : manifest.author?.name;
  out.push(
    `Files: usr/lib/alpn-responder/${path.relative(path.dirname(nodeModules), dir)}/*`,
    `Copyright: ${author ?? `the authors of ${manifest.name ?? path.basename(dir)}`}`,
    `License: ${license}`,
    `Comment: npm package ${manifest.name ?? path.basename(dir)} ${manifest.version ?? ''}; its own license file is shipped beside it.`,
    '',
  );
}
const ISC = `Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee is
hereby granted, provided that the above copyright notice and this permission notice appear in all copies.
.
THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES WITH REGARD TO THIS SOFTWARE INCLUDING ALL
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR ANY SPECIAL, DIRECT,
INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR IN CONNECTION WITH THE USE OR PERFORMANCE OF
THIS SOFTWARE.`;
const TEXTS: Record<string, string> = {
  ISC,
  'Apache-2.0': 'On Debian systems, the full text of the Apache License, Version 2.0 can be found in\n/usr/share/common-licenses/Apache-2.0.',
  MIT: mitTerms,
};
for (const license of [...licenses].sort()) {
  const text = TEXTS[license];
  // An unknown license would ship without its terms: stop the build so someone adds them here.
  if (text === undefined) throw new Error(`no license text for ${license}: add it to packaging/copyright.ts`);
  out.push(`License: ${license}`, ...text.split('\n').map((line) => ` ${line}`), '');
}
process.stdout.write(out.join('\n'));
