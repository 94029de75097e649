/**
 * Children of the tests start without tap's hooks. tap runs each test file with `@tapjs/processinfo` imported through
 * NODE_OPTIONS, and processinfo hooks every spawn of the test process (through process-on-spawn) to put that import
 * back into the child's environment: every Node child then records coverage and takes about twice as long to start
 * (the CLI: 652 ms against 309 ms), which on a loaded machine is what pushed waits past their limits. So a last hook
 * takes it out again, whatever environment the spawn was given.
 */

const PROCESSINFO = '@tapjs/processinfo';

/** Splits NODE_OPTIONS as Node does: on spaces, with double quotes grouping and backslash escaping inside them. */
function nodeOptionTokens(value: string): string[] {
  const tokens: string[] = [];
  let token = '';
  let quoted = false;
  let started = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted && c === '\\' && i + 1 < value.length) token += value[++i];
    else if (c === '"') (quoted = !quoted), (started = true);
    else if (c === ' ' && !quoted) {
      if (started || token !== '') tokens.push(token);
      token = '';
      started = false;
    } else token += c;
  }
  if (started || token !== '') tokens.push(token);
  return tokens;
}

/** `env` without the `@tapjs/processinfo` import in NODE_OPTIONS and processinfo's settings; the rest stays. */
export function withoutTapHooks(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) if (!key.startsWith('_TAPJS_PROCESSINFO_')) result[key] = value;
  if (env.NODE_OPTIONS === undefined) return result;
  const tokens = nodeOptionTokens(env.NODE_OPTIONS);
  const kept: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const next = tokens[i + 1];
    // `--import=<processinfo>`, or `--import <processinfo>` in two tokens.
    if (token.includes(PROCESSINFO)) continue;
    if (/^--(import|require|loader|experimental-loader)$/.test(token) && next?.includes(PROCESSINFO)) {
      i++;
      continue;
    }
    kept.push(/[\s"\\]/.test(token) ? JSON.stringify(token) : token);
  }
  if (kept.length === 0) delete result.NODE_OPTIONS;
  else result.NODE_OPTIONS = kept.join(' ');
  return result;
}

/** The options object process-on-spawn hands each hook; `env` may be replaced. */
interface SpawnHookOptions {
  env: NodeJS.ProcessEnv;
}

/** process-on-spawn's state, a global singleton shared by every copy of the module. */
const SPAWN_HOOKS = Symbol.for('process-on-spawn@*:singletonId');

const stripTapHooks = (options: SpawnHookOptions): void => {
  options.env = withoutTapHooks(options.env);
};

/**
 * Adds, once, the hook that runs after processinfo's on every spawn of this process. Does nothing outside tap
 * (process-on-spawn not loaded), e.g. in `npm run demo`.
 */
export function cleanChildEnvironments(): void {
  const state = (globalThis as Record<symbol, unknown>)[SPAWN_HOOKS] as { listeners?: ((options: SpawnHookOptions) => void)[] } | undefined;
  if (state?.listeners === undefined || state.listeners.includes(stripTapHooks)) return;
  state.listeners.push(stripTapHooks);
}
