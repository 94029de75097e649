/**
 * The package's debian/copyright (machine-readable format 1.0): alpn-responder itself, then every bundled npm
 * module under /usr/lib/alpn-responder/node_modules with the license its package.json declares.
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
const out: string[] = [
  'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
  'Upstream-Name: alpn-responder',
  '',
  'Files: *',
  'Copyright: 2026 alpn-responder contributors',
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
  MIT: `Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated
documentation files (the "Software"), to deal in the Software without restriction, including without limitation the
rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software, and to permit
persons to whom the Software is furnished to do so, subject to the following conditions:
.
The above copyright notice and this permission notice shall be included in all copies or substantial portions of the
Software.
.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE
WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR
COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR
OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.`,
};
for (const license of [...licenses].sort()) {
  const text = TEXTS[license];
  // An unknown license would ship without its terms: stop the build so someone adds them here.
  if (text === undefined) throw new Error(`no license text for ${license}: add it to packaging/copyright.ts`);
  out.push(`License: ${license}`, ...text.split('\n').map((line) => ` ${line}`), '');
}
process.stdout.write(out.join('\n'));
