/**
 * The shape of src/ (see docs/architecture.md): no import cycle between its folders (or root files), and no I/O
 * module in the pure core — the challenge and TLS code and the parsers, which are tested on bytes alone.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { REPO_ROOT } from './helpers/daemon.js';
import { shortTempDir } from './helpers/tmp.js';

/** Node modules that reach outside the process: files, sockets, processes. */
const IO_MODULES = ['net', 'tls', 'fs', 'fs/promises', 'child_process', 'cluster', 'dgram', 'http', 'https', 'http2'];

/** The pure core: whole folders (ending in `/`) and single files, relative to src/. */
const PURE_CORE = [
  'challenge/',
  'tls/',
  'bytes.ts',
  'ip-address.ts',
  'parse-result.ts',
  'json-value.ts',
  'config/option-kinds.ts',
  'control/line-splitter.ts',
  'control/protocol.ts',
  'diagnostics/ca-texts.ts',
  'diagnostics/dehydrated-config.ts',
  'diagnostics/verify.ts',
  'net/backends.ts',
  'net/listen-address.ts',
  'net/proxy-header.ts',
  'net/source-key.ts',
  'store/redis-records.ts',
  'store/redis-target.ts',
  'store/state-format.ts',
  'systemd/listen-fds.ts',
];

/** One import of one file: the module named, as written. */
interface Import {
  readonly file: string;
  readonly specifier: string;
}

/** Static imports and re-exports (`import … from`, `import '…'`, `export … from`) and `import('…')` with a literal. */
const IMPORT = /(?:\b(?:import|export)\s[^'"`;]*?from\s*|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

/** Every `.ts` file under `root`, relative to it, with `/` separators. */
function sourceFiles(root: string, dir = ''): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(root, rel);
    return entry.name.endsWith('.ts') ? [rel] : [];
  });
}

function importsOf(root: string): Import[] {
  return sourceFiles(root).flatMap((file) => {
    const text = readFileSync(path.join(root, file), 'utf8');
    return [...text.matchAll(IMPORT)].map((match) => ({ file, specifier: match[1]! }));
  });
}

/** The unit of a file: its top folder (`net/`), or the file itself when it sits in the root (`daemon.ts`). */
function unitOf(file: string): string {
  const slash = file.indexOf('/');
  return slash === -1 ? file : file.slice(0, slash + 1);
}

/** The file a relative import names, relative to the root (`.js` in the specifier is the `.ts` source). */
function resolve(from: string, specifier: string): string {
  return path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier)).replace(/\.js$/, '.ts');
}

/** Edges between units, from every relative import that crosses one. */
function unitGraph(imports: readonly Import[]): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const { file, specifier } of imports) {
    if (!specifier.startsWith('.')) continue;
    const from = unitOf(file);
    const to = unitOf(resolve(file, specifier));
    if (from === to) continue;
    if (!graph.has(from)) graph.set(from, new Set());
    graph.get(from)!.add(to);
  }
  return graph;
}

/** The strongly connected components with more than one unit (Tarjan): each is a cycle between units. */
function cycles(graph: ReadonlyMap<string, ReadonlySet<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (unit: string): void => {
    index.set(unit, index.size);
    low.set(unit, index.get(unit)!);
    stack.push(unit);
    onStack.add(unit);
    for (const next of graph.get(unit) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(unit, Math.min(low.get(unit)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(unit, Math.min(low.get(unit)!, index.get(next)!));
      }
    }
    if (low.get(unit) !== index.get(unit)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== unit);
    if (component.length > 1) found.push(component.sort());
  };
  for (const unit of graph.keys()) if (!index.has(unit)) visit(unit);
  return found;
}

/** Imports of I/O modules (`node:fs` or `fs`) by files of the pure core. */
function coreInputOutput(imports: readonly Import[], core: readonly string[] = PURE_CORE): string[] {
  const io = new Set(IO_MODULES.flatMap((name) => [name, `node:${name}`]));
  const inCore = (file: string): boolean => core.some((entry) => (entry.endsWith('/') ? file.startsWith(entry) : file === entry));
  return imports.filter(({ file, specifier }) => inCore(file) && io.has(specifier)).map(({ file, specifier }) => `${file} imports ${specifier}`);
}

const SRC = path.join(REPO_ROOT, 'src');

t.test('no import cycle between the folders (or root files) of src/', async (t) => {
  const graph = unitGraph(importsOf(SRC));
  t.ok(graph.size > 10, `the graph was read (${graph.size} units import others)`);
  t.ok(graph.get('daemon.ts')?.has('store/'), 'an edge known to exist is found (daemon.ts → store/)');
  t.same(cycles(graph), [], 'no cycles');
});

t.test('the pure core does no I/O', async (t) => {
  const files = new Set(sourceFiles(SRC));
  for (const entry of PURE_CORE) {
    const present = entry.endsWith('/') ? [...files].some((file) => file.startsWith(entry)) : files.has(entry);
    t.ok(present, `${entry} exists (a stale list checks nothing)`);
  }
  t.same(coreInputOutput(importsOf(SRC)), []);
});

t.test('the checks find what they look for', async (t) => {
  const root = shortTempDir(t);
  const write = (file: string, text: string): void => {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), text);
  };
  write('a/one.ts', "import { b } from '../b/two.js';\nexport const a = b;\n");
  write('b/two.ts', "export { c as b } from '../c.js';\n");
  write('c.ts', "import type { A } from './a/one.js';\nexport const c = 1;\n");
  write('d/lazy.ts', "const m = await import('../e/side.js');\nimport 'node:fs';\n");
  write('e/side.ts', "import tls from 'node:tls';\nimport { readFile } from 'fs/promises';\nimport x from './inner.js';\n");
  write('e/inner.ts', "export default 1;\n");
  const imports = importsOf(root);
  const graph = unitGraph(imports);
  t.same(cycles(graph), [['a/', 'b/', 'c.ts']], 'a cycle through a re-export and a type import, three units long');
  t.same([...(graph.get('d/') ?? [])], ['e/'], 'a dynamic import is an edge');
  t.notOk(graph.has('e/'), 'an import inside a folder is no edge');
  t.same(coreInputOutput(imports, ['e/', 'd/lazy.ts']).sort(), [
    'd/lazy.ts imports node:fs',
    'e/side.ts imports fs/promises',
    'e/side.ts imports node:tls',
  ]);
});
