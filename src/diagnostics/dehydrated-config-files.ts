/**
 * Finds and reads dehydrated's configuration the way dehydrated does (first of its usual paths, then CONFIG_D's
 * *.sh files in order), each file read only up to a bound and never executed, and looks at the script HOOK names.
 */
import { constants, existsSync } from 'node:fs';
import { access, open, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Check } from './checklist.js';
import {
  exportedControlPath,
  judgeDehydratedConfig,
  parseShellAssignments,
  type DehydratedConfigFacts,
  type HookFacts,
} from './dehydrated-config.js';

/** Where dehydrated looks for its config when not given one, in its order (`config` is relative to its cwd). */
const DEHYDRATED_CONFIG_PATHS = ['/etc/dehydrated/config', '/usr/local/etc/dehydrated/config', 'config'] as const;

/** Where dehydrated's scheduled runs are usually set up: their command lines name the config with -f. */
const SCHEDULE_LOCATIONS = ['/etc/crontab', '/etc/cron.d', '/etc/cron.daily', '/etc/cron.weekly', '/etc/systemd/system', '/lib/systemd/system'] as const;

/** Most files read while looking for dehydrated's command line. */
const MAX_SCHEDULE_FILES = 200;

/** `dehydrated … -f FILE` / `--config FILE` in a crontab line or an ExecStart=. */
const DEHYDRATED_CONFIG_ARGUMENT = /\bdehydrated\b[^\n]*?\s(?:-f|--config)[=\s]+["']?([^\s"';|&]+)/;

/**
 * The config dehydrated is started with, when a crontab or systemd unit names one with -f: the first found in
 * `locations` (files, or directories whose files are read), or undefined.
 */
export async function scheduledConfig(locations: readonly string[] = SCHEDULE_LOCATIONS): Promise<{ file: string; where: string } | undefined> {
  let read = 0;
  for (const location of locations) {
    const info = await stat(location).catch(() => undefined);
    if (info === undefined) continue;
    const files = info.isDirectory() ? ((await readdir(location).catch(() => [])) as string[]).sort().map((name) => path.join(location, name)) : [location];
    for (const file of files) {
      if (read++ >= MAX_SCHEDULE_FILES) return undefined;
      if (!(await isFile(file))) continue;
      const text = await readBounded(file).catch(() => '');
      for (const line of text.split('\n')) {
        if (/^\s*#/.test(line)) continue;
        const found = DEHYDRATED_CONFIG_ARGUMENT.exec(line)?.[1];
        if (found !== undefined) return { file: found, where: file };
      }
    }
  }
  return undefined;
}

/**
 * The hook of the installation this code runs from: `hooks/` next to `src/` or `dist/` (a clone, `npm install -g`),
 * or, from the Debian package's /usr/lib/alpn-responder/dist, /usr/share/alpn-responder/dehydrated-hook.sh.
 */
export const OUR_HOOK = installedHook([
  fileURLToPath(new URL('../../hooks/dehydrated-hook.sh', import.meta.url)),
  fileURLToPath(new URL('../../../../share/alpn-responder/dehydrated-hook.sh', import.meta.url)),
]);

/** The first of the candidates that exists, else the first (the layout of a clone). */
export function installedHook(candidates: readonly [string, ...string[]]): string {
  return candidates.find((candidate) => existsSync(candidate)) ?? candidates[0];
}

/** Most bytes read from one file: configs and hooks are a few KiB. */
const MAX_FILE_BYTES = 256 * 1024;
/** Most CONFIG_D files read. */
const MAX_CONF_D_FILES = 100;

/** What the config says, as checklist lines, and the control socket it exports to the hook. */
export interface DehydratedConfigReport {
  readonly checks: readonly Check[];
  readonly controlPath?: string;
}

async function readBounded(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(MAX_FILE_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, MAX_FILE_BYTES, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => undefined))?.isFile() ?? false;
}

async function shellFiles(dir: string): Promise<string[] | undefined> {
  const names = await readdir(dir).catch(() => undefined);
  return names
    ?.filter((name) => name.endsWith('.sh'))
    .sort()
    .slice(0, MAX_CONF_D_FILES)
    .map((name) => path.join(dir, name));
}

async function hookFacts(value: string, ourHook: string): Promise<HookFacts> {
  const hookPath = path.resolve(value);
  const exists = await isFile(hookPath);
  if (!exists) return { path: hookPath, exists, executable: false, ours: false, mentionsUs: false };
  const executable = await access(hookPath, constants.X_OK).then(
    () => true,
    () => false,
  );
  const [real, ourReal] = await Promise.all([realpath(hookPath), realpath(ourHook).catch(() => ourHook)]);
  const [text, ourText] = await Promise.all([readBounded(hookPath), readBounded(ourHook).catch(() => undefined)]);
  return {
    path: hookPath,
    exists,
    executable,
    ours: real === ourReal || text === ourText,
    mentionsUs: /dehydrated-hook\.sh|ALPN_RESPONDER_|alpn-responder/.test(text),
  };
}

function skipped(status: Check['status'], title: string, remedy?: string): DehydratedConfigReport {
  return { checks: [{ id: 'dehydrated', status, title: `dehydrated: ${title}`, ...(remedy === undefined ? {} : { remedy }) }] };
}

/**
 * Examines dehydrated's config: `given`, or the first of `searchPaths` that exists. A missing config is not a
 * failure (dehydrated may run elsewhere), only a line saying what was looked at.
 */
export async function examineDehydratedConfig(
  given: string | undefined,
  searchPaths: readonly string[] = DEHYDRATED_CONFIG_PATHS,
  ourHook: string = OUR_HOOK,
  scheduleLocations: readonly string[] = SCHEDULE_LOCATIONS,
): Promise<DehydratedConfigReport> {
  let configPath: string | undefined;
  if (given !== undefined) configPath = path.resolve(given);
  else {
    for (const candidate of searchPaths) {
      if (await isFile(path.resolve(candidate))) {
        configPath = path.resolve(candidate);
        break;
      }
    }
  }
  const scheduled = given === undefined ? await scheduledConfig(scheduleLocations) : undefined;
  if (configPath === undefined) {
    if (scheduled !== undefined) {
      return skipped('warn', `no config at ${searchPaths.join(', ')}, but dehydrated is started with -f ${scheduled.file} (${scheduled.where})`, `Pass it: --dehydrated-config ${scheduled.file}.`);
    }
    return skipped('info', `no config at ${searchPaths.join(', ')}; pass --dehydrated-config FILE to check the one dehydrated uses`);
  }
  let text: string;
  try {
    text = await readBounded(configPath);
  } catch (error) {
    return skipped('warn', `cannot read ${configPath} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, 'Check the path given with --dehydrated-config.');
  }

  // dehydrated sets BASEDIR to the config's directory before sourcing it.
  const base = new Map([['BASEDIR', { value: path.dirname(configPath), raw: '', exported: false, where: 'dehydrated' }]]);
  let vars = parseShellAssignments(text, configPath, base);
  const files = [configPath];
  let unreadConfD: string | undefined;
  let missingConfD: string | undefined;
  const confD = vars.get('CONFIG_D')?.value;
  if (confD !== undefined && confD !== '') {
    const extra = await shellFiles(confD);
    if (extra === undefined) missingConfD = confD;
    for (const file of extra ?? []) {
      const more = await readBounded(file).catch(() => undefined);
      if (more === undefined) continue;
      vars = parseShellAssignments(more, file, vars);
      files.push(file);
    }
  } else {
    const nextTo = path.join(path.dirname(configPath), 'conf.d');
    if (((await shellFiles(nextTo)) ?? []).length > 0) unreadConfD = nextTo;
  }

  const hookValue = vars.get('HOOK')?.value;
  const facts: DehydratedConfigFacts = {
    files,
    vars,
    ourHook,
    ...(hookValue ? { hook: await hookFacts(hookValue, ourHook) } : {}),
    ...(unreadConfD === undefined ? {} : { unreadConfD }),
    ...(missingConfD === undefined ? {} : { missingConfD }),
    ...(given === undefined ? { defaulted: true } : {}),
    ...(scheduled !== undefined && path.resolve(scheduled.file) !== configPath ? { inUse: scheduled } : {}),
  };
  const controlPath = exportedControlPath(vars);
  return { checks: judgeDehydratedConfig(facts), ...(controlPath === undefined ? {} : { controlPath }) };
}
