/**
 * Every command shown in the covered documents is run: each fenced ```sh block is either run here, in a sandbox
 * (the built CLI as `alpn-responder` on PATH, a daemon of our own behind ALPN_RESPONDER_CONTROL and
 * ALPN_RESPONDER_PORT), or marked `<!-- runs-in: FILE -->` on the line before the fence, and then every command
 * line of it (its `# comment` dropped) appears verbatim in FILE — `as_root ` before it allowed — and FILE is CI
 * (.ci/run) or a script .ci/run calls. The other documents in docs/ are counted, not checked: the test prints how many
 * of their blocks are not covered yet.
 */
import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CLI_PATH, cleanEnv, REPO_ROOT, requirePeers, run, startDaemon } from './helpers/daemon.js';
import { shortTempDir } from './helpers/tmp.js';

/** The documents held to the rule. */
const COVERED = ['README.md', 'docs/install.md', 'docs/try-it.md'];

/** Lines that cannot run inside CI because they are CI: each with the proof that it is. */
const CI_ITSELF: Record<string, { file: string; contains: string }> = {
  './scripts/test.sh': { file: 'scripts/test.sh', contains: 'bash .ci/run' },
};

interface Block {
  readonly doc: string;
  readonly line: number;
  readonly text: string;
  readonly runsIn: string | undefined;
}

/** The ```sh blocks of a Markdown file, with the `runs-in` marker of the line before each. */
function shellBlocks(doc: string, markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== '```sh') continue;
    const end = lines.findIndex((line, j) => j > i && line.trim() === '```');
    if (end < 0) throw new Error(`${doc}:${i + 1}: unterminated code block`);
    const marker = /^<!-- runs-in: (\S+) -->$/.exec(lines[i - 1]?.trim() ?? '');
    blocks.push({ doc, line: i + 1, text: lines.slice(i + 1, end).join('\n'), runsIn: marker?.[1] });
    i = end;
  }
  return blocks;
}

/** The command lines of a block: no blank lines, no comment lines, no trailing `# comment`. */
function commandLines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.replace(/\s+#\s.*$/, '').trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

const read = (file: string): string => readFileSync(path.join(REPO_ROOT, file), 'utf8');
const scriptLines = (file: string): Set<string> =>
  new Set(read(file).split('\n').map((line) => line.trim().replace(/^as_root /, '')));
/** .ci/run and the scripts it calls (`bash FILE` / `./FILE`), and the scripts those call. */
function ciScripts(): Set<string> {
  const seen = new Set<string>(['.ci/run']);
  const queue = ['.ci/run'];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    for (const match of read(file).matchAll(/(?:bash |\.\/)((?:\.ci|scripts)\/[\w.-]+)/g)) {
      const called = match[1] ?? '';
      if (!seen.has(called) && existsSync(path.join(REPO_ROOT, called))) {
        seen.add(called);
        queue.push(called);
      }
    }
  }
  return seen;
}

const blocks = COVERED.flatMap((doc) => shellBlocks(doc, read(doc)));

t.test('the covered documents have shell blocks', async (t) => {
  for (const doc of COVERED) t.ok(blocks.some((b) => b.doc === doc), `${doc} shows commands`);
});

t.test('blocks marked runs-in: every command is in a script CI runs', async (t) => {
  const ci = ciScripts();
  t.comment(`CI runs: ${[...ci].join(', ')}`);
  for (const block of blocks.filter((b) => b.runsIn !== undefined)) {
    const file = block.runsIn ?? '';
    t.ok(ci.has(file), `${block.doc}:${block.line}: ${file} is run by .ci/run`);
    const lines = existsSync(path.join(REPO_ROOT, file)) ? scriptLines(file) : new Set<string>();
    for (const command of commandLines(block.text)) {
      const itself = CI_ITSELF[command];
      if (itself !== undefined) {
        t.ok(read(itself.file).includes(itself.contains), `${block.doc}:${block.line}: \`${command}\` is CI itself (${itself.file} runs ${itself.contains})`);
        continue;
      }
      t.ok(lines.has(command), `${block.doc}:${block.line}: \`${command}\` is run by ${file}`);
    }
  }
});

t.test('the other blocks run here, in a sandbox', requirePeers(t, ['bash', 'openssl'], true), async (t) => {
  const dir = shortTempDir(t);
  // On every address, as a daemon the CA can reach; doctor is told the CA's port is the daemon's (--ca-port).
  const daemon = await startDaemon({ listen: ['0.0.0.0:0'], dir: path.join(dir, 'daemon') });
  t.teardown(() => daemon.stop());
  const bin = path.join(dir, 'bin');
  await run('mkdir', ['-p', bin], { timeoutMs: 5_000 });
  await writeFile(path.join(bin, 'alpn-responder'), `#!/bin/sh\nexec '${process.execPath}' '${CLI_PATH}' "$@"\n`, { mode: 0o755 });
  const env = cleanEnv({
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    ALPN_RESPONDER_CONTROL: daemon.controlPath,
    ALPN_RESPONDER_PORT: String(daemon.listeners[0]?.port ?? 0),
    ALPN_RESPONDER_CA_PORT: String(daemon.listeners[0]?.port ?? 0),
  });
  for (const block of blocks.filter((b) => b.runsIn === undefined)) {
    const result = await run('bash', ['-euo', 'pipefail', '-c', block.text], { env, cwd: dir, timeoutMs: 60_000 });
    t.equal(result.code, 0, `${block.doc}:${block.line} runs: ${commandLines(block.text).join(' ; ')}`, { stdout: result.stdout, stderr: result.stderr });
  }
});

t.test('how far docs/ is covered', async (t) => {
  const others = readdirSync(path.join(REPO_ROOT, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .map((file) => `docs/${file}`)
    .filter((doc) => !COVERED.includes(doc));
  let uncovered = 0;
  for (const doc of others) {
    const count = shellBlocks(doc, read(doc)).length;
    uncovered += count;
    if (count > 0) t.comment(`${doc}: ${count} sh block(s) not yet run by a test`);
  }
  t.comment(`${blocks.length} blocks in ${COVERED.join(', ')} are run; ${uncovered} in the rest of docs/ are not yet`);
  t.pass('counted');
});
