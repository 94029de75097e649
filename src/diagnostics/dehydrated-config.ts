/**
 * dehydrated's configuration, read the way a careful person reads it rather than by running it: the simple shell
 * assignments (`KEY=value`, `KEY="value"`, `KEY='value'`, `export KEY=value`, `export KEY`) with `$VAR` / `${VAR}`
 * expanded from earlier assignments; anything that needs a shell (command substitution, conditionals' effects)
 * is marked as unknown instead of guessed. Pure: the files are read by `dehydrated-config-files.ts`.
 */
import type { Check } from './checklist.js';

/** One variable as the config leaves it. */
export interface ShellVariable {
  /** The value, or undefined when only running the shell could tell (`$(…)`, backticks, unknown variables). */
  readonly value: string | undefined;
  /** The text after `=`, as written. */
  readonly raw: string;
  /** Exported, so hooks dehydrated runs see it in their environment. */
  readonly exported: boolean;
  /** Where it was last assigned: `file:line`. */
  readonly where: string;
}

/** Variables by name. */
export type ShellVariables = ReadonlyMap<string, ShellVariable>;

/** Expands `$NAME`, `${NAME}` and `${NAME:-default}` at `text[start]` (a `$`); undefined value when it cannot. */
function expansion(text: string, start: number, vars: ShellVariables): { value: string | undefined; end: number } {
  const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/.exec(text.slice(start));
  if (braced) {
    const found = vars.get(braced[1] ?? '')?.value;
    const fallback = braced[2];
    return { value: found !== undefined && found !== '' ? found : fallback, end: start + braced[0].length };
  }
  const plain = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(start));
  if (plain) return { value: vars.get(plain[1] ?? '')?.value, end: start + plain[0].length };
  // `$(…)`, `$((…))`, `${#…}`, `$1`: needs a shell.
  return { value: undefined, end: text.length };
}

/**
 * Reads one shell word from `text` (the text after `=`): quotes, backslashes and expansions as the shell treats
 * them. `rest` is what follows the word; `value` is undefined when the word cannot be evaluated here.
 */
function shellWord(text: string, vars: ShellVariables): { value: string | undefined; rest: string } {
  let out = '';
  let known = true;
  let i = 0;
  const expand = (): void => {
    const { value, end } = expansion(text, i, vars);
    if (value === undefined) known = false;
    else out += value;
    i = end;
  };
  while (i < text.length) {
    const ch = text[i] as string;
    if (/\s|;/.test(ch)) break;
    if (ch === "'") {
      const close = text.indexOf("'", i + 1);
      if (close === -1) return { value: undefined, rest: '' };
      out += text.slice(i + 1, close);
      i = close + 1;
    } else if (ch === '"') {
      i++;
      for (;;) {
        const c = text[i];
        if (c === undefined) return { value: undefined, rest: '' };
        if (c === '"') break;
        if (c === '\\' && /["\\$`]/.test(text[i + 1] ?? '')) {
          out += text[i + 1];
          i += 2;
        } else if (c === '$') {
          expand();
        } else if (c === '`') {
          return { value: undefined, rest: '' };
        } else {
          out += c;
          i++;
        }
      }
      i++;
    } else if (ch === '\\') {
      out += text[i + 1] ?? '';
      i += 2;
    } else if (ch === '$') {
      expand();
    } else if (ch === '`') {
      return { value: undefined, rest: '' };
    } else {
      out += ch;
      i++;
    }
  }
  return { value: known ? out : undefined, rest: text.slice(i) };
}

/**
 * Applies the assignments of one file to `previous`, returning the new set. Lines that are not simple assignments
 * or exports are skipped; an assignment followed by a command (`KEY=value cmd`) only sets it for that command,
 * so it is skipped too.
 */
export function parseShellAssignments(text: string, file: string, previous: ShellVariables = new Map()): Map<string, ShellVariable> {
  const vars = new Map(previous);
  text.split('\n').forEach((rawLine, index) => {
    const line = rawLine.trim();
    const where = `${file}:${index + 1}`;
    const exportOnly = /^export\s+([A-Za-z_][A-Za-z0-9_]*(?:\s+[A-Za-z_][A-Za-z0-9_]*)*)\s*(?:#.*)?$/.exec(line);
    if (exportOnly) {
      for (const name of (exportOnly[1] ?? '').split(/\s+/)) {
        const known = vars.get(name);
        vars.set(name, { value: known?.value ?? '', raw: known?.raw ?? '', where: known?.where ?? where, exported: true });
      }
      return;
    }
    const assignment = /^(export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!assignment) return;
    const name = assignment[2] as string;
    const raw = assignment[3] as string;
    const { value, rest } = shellWord(raw, vars);
    if (!/^\s*(?:;\s*)?(?:#.*)?$/.test(rest)) return;
    vars.set(name, { value, raw: raw.trim(), where, exported: assignment[1] !== undefined || (vars.get(name)?.exported ?? false) });
  });
  return vars;
}

/** What the files say about the hook HOOK names (found by the caller on disk). */
export interface HookFacts {
  /** The path as resolved. */
  readonly path: string;
  readonly exists: boolean;
  readonly executable: boolean;
  /** It is this project's hook: the same file (real path) or a byte-identical copy. */
  readonly ours: boolean;
  /** Another script that mentions alpn-responder's hook or its ALPN_RESPONDER_ settings. */
  readonly mentionsUs: boolean;
}

/** Everything {@link judgeDehydratedConfig} weighs. */
export interface DehydratedConfigFacts {
  /** The files read, main config first. */
  readonly files: readonly string[];
  readonly vars: ShellVariables;
  /** The hook of the running installation (`dehydrated-config-files.ts`'s OUR_HOOK): the remedies name it. */
  readonly ourHook: string;
  /** Facts about HOOK's script, when HOOK has a value. */
  readonly hook?: HookFacts;
  /** A conf.d directory next to the config holding *.sh files dehydrated does not read (CONFIG_D unset). */
  readonly unreadConfD?: string;
  /** CONFIG_D names no directory: dehydrated stops before doing anything. */
  readonly missingConfD?: string;
  /** True when the config was found at dehydrated's default path, not given with --dehydrated-config. */
  readonly defaulted?: boolean;
  /** Another config that dehydrated is started with (`dehydrated -f FILE` in cron or a systemd unit), and where. */
  readonly inUse?: { readonly file: string; readonly where: string };
}

/** dehydrated's settings that matter for TLS-ALPN-01 with alpn-responder, one line each. */
export function judgeDehydratedConfig(facts: DehydratedConfigFacts): Check[] {
  const check = (status: Check['status'], title: string, remedy?: string): Check => ({
    id: 'dehydrated',
    status,
    title: `dehydrated: ${title}`,
    ...(remedy === undefined ? {} : { remedy }),
  });
  const { vars } = facts;
  const setHook = `Set HOOK="${facts.ourHook}" (the hook of this installation)`;
  const checks: Check[] = [check('info', `read ${facts.files.join(', ')}${facts.defaulted ? " (dehydrated's default config)" : ''}`)];
  if (facts.inUse !== undefined) {
    checks.push(
      check(
        'warn',
        `dehydrated is started with -f ${facts.inUse.file} (${facts.inUse.where}), not with the config read here`,
        `Pass the config dehydrated really uses: --dehydrated-config ${facts.inUse.file}.`,
      ),
    );
  }
  // A config found by default may not be the one in use: dehydrated -f FILE reads another.
  const notInUse = facts.defaulted ? ' If dehydrated runs with -f FILE, that file is the one to fix: pass it as --dehydrated-config FILE.' : '';
  if (facts.missingConfD !== undefined) {
    checks.push(check('fail', `CONFIG_D=${facts.missingConfD} is not a directory: dehydrated stops at once`, 'Create the directory or fix CONFIG_D.'));
  }
  if (facts.unreadConfD !== undefined) {
    checks.push(
      check('warn', `${facts.unreadConfD} holds *.sh files, but dehydrated does not read them: CONFIG_D is not set`, `Set CONFIG_D=${facts.unreadConfD} in the main config, or move the settings there.`),
    );
  }

  const type = vars.get('CHALLENGETYPE');
  if (type === undefined) {
    checks.push(check('fail', 'CHALLENGETYPE is not set, so dehydrated uses http-01', `Set CHALLENGETYPE="tls-alpn-01".${notInUse}`));
  } else if (type.value === undefined) {
    checks.push(check('warn', `CHALLENGETYPE=${type.raw} (${type.where}) cannot be read without running the shell`, 'Make sure it comes out as tls-alpn-01.'));
  } else if (type.value !== 'tls-alpn-01') {
    checks.push(check('fail', `CHALLENGETYPE is ${JSON.stringify(type.value)} (${type.where}), not tls-alpn-01`, `Set CHALLENGETYPE="tls-alpn-01".${notInUse}`));
  } else {
    checks.push(check('pass', `CHALLENGETYPE is tls-alpn-01 (${type.where})`));
  }

  const hook = vars.get('HOOK');
  const script = facts.hook;
  if (hook === undefined || hook.value === '') {
    checks.push(check('fail', 'HOOK is not set: no challenge would reach alpn-responder', `${setHook}.${notInUse}`));
  } else if (hook.value === undefined || script === undefined) {
    checks.push(check('warn', `HOOK=${hook.raw} (${hook.where}) cannot be read without running the shell`, `Make sure it names ${facts.ourHook}.`));
  } else if (!script.exists) {
    checks.push(check('fail', `HOOK ${script.path} (${hook.where}) does not exist`, `${setHook}.`));
  } else if (!script.executable) {
    checks.push(check('fail', `HOOK ${script.path} (${hook.where}) is not executable`, `chmod +x ${script.path}`));
  } else if (script.ours) {
    checks.push(check('pass', `HOOK is alpn-responder's hook (${script.path})`));
  } else if (script.mentionsUs) {
    checks.push(
      check(
        'warn',
        `HOOK ${script.path} is another script that refers to alpn-responder`,
        'Make sure it hands deploy_challenge, clean_challenge, startup_hook and invalid_challenge to alpn-responder\'s hook.',
      ),
    );
  } else {
    checks.push(check('fail', `HOOK ${script.path} (${hook.where}) is not alpn-responder's hook and does not refer to it`, `${setHook}, and keep the old hook as ALPN_RESPONDER_NEXT_HOOK.${notInUse}`));
  }

  const chain = vars.get('HOOK_CHAIN')?.value ?? 'no';
  checks.push(
    check(
      'info',
      chain === 'yes'
        ? 'HOOK_CHAIN=yes: one hook call for all names of a certificate (one control connection with the nc and socat transports, one per name with the CLI); fine'
        : 'HOOK_CHAIN=no: one hook call per name; fine (HOOK_CHAIN=yes saves the hook calls, and with the nc and socat transports the control connections)',
    ),
  );

  const control = vars.get('ALPN_RESPONDER_CONTROL');
  if (control?.value !== undefined && control.value !== '') {
    if (control.exported) checks.push(check('info', `the hook uses the control socket ${control.value} (ALPN_RESPONDER_CONTROL, ${control.where})`));
    else {
      checks.push(
        check('warn', `ALPN_RESPONDER_CONTROL is set (${control.where}) but not exported: the hook does not see it`, `Write it as export ALPN_RESPONDER_CONTROL=${control.value}.`),
      );
    }
  }
  return checks;
}

/** The control socket the hook will use, when the config exports ALPN_RESPONDER_CONTROL. */
export function exportedControlPath(vars: ShellVariables): string | undefined {
  const control = vars.get('ALPN_RESPONDER_CONTROL');
  return control?.exported && control.value ? control.value : undefined;
}
