/**
 * alpn-responder(1), made from the CLI's own `--help` texts so the manual can never disagree with the program:
 * `node --import @tapjs/typescript/import packaging/man-page.ts dist/cli.js > alpn-responder.1`.
 */
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

/** One command's `--help` output, as yargs prints it. */
export interface HelpPage {
  /** Empty for the top-level `alpn-responder --help`. */
  readonly command: string;
  readonly text: string;
}

/** Escapes text for roff: backslashes, and a leading `.` or `'` that roff would read as a request. */
export function roffEscape(text: string): string {
  return text.replaceAll('\\', '\\e').replaceAll('-', '\\-').replace(/^([.'])/, '\\&$1');
}

/** The command names in the top-level help's `Commands:` section, in order. */
export function commandNames(topHelp: string): string[] {
  const section = /^Commands:\n((?: {2}.*\n?)+)/m.exec(topHelp)?.[1] ?? '';
  return [...section.matchAll(/^ {2}\S+ (\S+)/gm)].map((match) => match[1] ?? '').filter((name) => name !== '');
}

/** yargs' `  --name  description  [type] [default: x]` lines of the `Positionals:` and `Options:` blocks. */
function optionLines(help: string): { name: string; description: string }[] {
  const block = ['Positionals', 'Options'].map((title) => new RegExp(`^${title}:\n((?: {2}.*\n?)+)`, 'm').exec(help)?.[1] ?? '').join('\n');
  return block
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const match = /^ {2}(\S+(?: \S+)*?) {2,}(.*)$/.exec(line);
      return { name: match?.[1] ?? line.trim(), description: match?.[2] ?? '' };
    });
}

// Options every command shows: documented once, under GLOBAL OPTIONS.
const GLOBAL = new Set(['--control', '--version', '--help']);

/**
 * The manual page: NAME, SYNOPSIS, DESCRIPTION (the top help's text), one subsection per command with its own
 * options, GLOBAL OPTIONS, FILES, SEE ALSO.
 */
export function manPage(pages: readonly HelpPage[], version: string, date: string): string {
  const top = pages.find((page) => page.command === '');
  if (top === undefined) throw new Error('the top-level --help page is missing');
  const out: string[] = [];
  const para = (text: string): void => void out.push('.PP', roffEscape(text));
  out.push(`.TH ALPN\\-RESPONDER 1 "${date}" "alpn-responder ${version}" "User Commands"`);
  out.push('.SH NAME', 'alpn\\-responder \\- TLS\\-ALPN\\-01 (RFC 8737) challenge responder for dehydrated');
  out.push('.SH SYNOPSIS', '.B alpn\\-responder', '.I command', '[options]');
  out.push('.SH DESCRIPTION');
  const lead = top.text.split('\n\n')[1]?.trim();
  if (lead !== undefined) para(lead);
  para('Every option of serve can also be set by the environment variable ALPN_RESPONDER_<NAME> (upper case, dashes as underscores) or a --config JSON file; the command line wins.');
  out.push('.SH COMMANDS');
  for (const page of pages) {
    if (page.command === '') continue;
    const lines = page.text.split('\n');
    out.push('.SS', `.B ${roffEscape(lines[0]?.trim() ?? page.command)}`);
    const summary = page.text.split('\n\n')[1]?.trim();
    if (summary !== undefined && !summary.startsWith('Options:') && !summary.startsWith('Positionals:')) para(summary);
    for (const option of optionLines(page.text).filter((o) => !GLOBAL.has(o.name))) {
      out.push('.TP', `.B ${roffEscape(option.name)}`, roffEscape(option.description));
    }
  }
  out.push('.SH GLOBAL OPTIONS');
  for (const option of optionLines(top.text)) out.push('.TP', `.B ${roffEscape(option.name)}`, roffEscape(option.description));
  out.push(
    '.SH FILES',
    '.TP', '.I /run/alpn\\-responder/control.sock', 'the control socket (deploy, clean, list, status)',
    '.TP', '.I /usr/share/alpn\\-responder/dehydrated\\-hook.sh', "dehydrated's HOOK",
    '.TP', '.I /usr/lib/systemd/system/alpn\\-responder.socket', 'socket activation on port 443; enable with systemctl enable \\-\\-now alpn\\-responder.socket',
    '.TP', '.I /usr/share/doc/alpn\\-responder/', 'the full documentation',
    '.SH SEE ALSO',
    '.BR dehydrated (1),',
    '.BR systemd.socket (5)',
    '',
  );
  return out.join('\n');
}

/** Runs `node cli --help` and `node cli <command> --help` for every command, in a neutral environment. */
export function helpPages(cli: string): HelpPage[] {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LANG: 'C.UTF-8' };
  const help = (args: string[]): string => execFileSync(process.execPath, [cli, ...args, '--help'], { env, encoding: 'utf8' });
  const top = help([]);
  return [{ command: '', text: top }, ...commandNames(top).map((command) => ({ command, text: help([command]) }))];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [cli, version = '0', date = new Date().toISOString().slice(0, 10)] = process.argv.slice(2);
  if (cli === undefined) {
    process.stderr.write('usage: man-page.ts CLI.js [VERSION] [DATE]\n');
    process.exitCode = 2;
  } else {
    process.stdout.write(manPage(helpPages(cli), version, date));
  }
}
