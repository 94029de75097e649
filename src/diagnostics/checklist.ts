/**
 * The doctor's findings and how they are printed: one line per check, its remedy under it. Pure: values in, text
 * out, so the output can be tested (and read by the hook) without running any check.
 */

/**
 * `fail`: the CA's validation would fail because of it (✗, non-zero exit). `warn`: worth a look, validation may
 * still work (!). `pass`: checked and fine (✓). `info`: a fact, not a verdict (·).
 */
export type CheckStatus = 'pass' | 'fail' | 'warn' | 'info';

/** One line of the checklist. */
export interface Check {
  /** Which check produced it: `control`, `port`, `loopback`, `self-test`, `dehydrated`. */
  readonly id: string;
  readonly status: CheckStatus;
  /** What was found, one line. */
  readonly title: string;
  /** What to do about it; set for `fail` and `warn`. */
  readonly remedy?: string;
}

const SYMBOL: Readonly<Record<CheckStatus, string>> = { pass: '✓', fail: '✗', warn: '!', info: '·' };

/** True when any check says the validation would fail. */
export function hasFailure(checks: readonly Check[]): boolean {
  return checks.some((check) => check.status === 'fail');
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** The closing line: how many checks would make the validation fail, and how many warnings. */
export function summarize(checks: readonly Check[]): string {
  const failures = checks.filter((check) => check.status === 'fail').length;
  const warnings = checks.filter((check) => check.status === 'warn').length;
  if (failures === 0) return `doctor: nothing found that would make a validation fail${warnings ? ` (${plural(warnings, 'warning')})` : ''}`;
  return `doctor: ${plural(failures, 'problem')} would make a validation fail${warnings ? `, ${plural(warnings, 'warning')}` : ''}`;
}

/** The checklist as text: `✓ title`, remedies indented under their line, and the summary last. */
export function formatChecklist(checks: readonly Check[]): string {
  const lines: string[] = [];
  for (const check of checks) {
    lines.push(`${SYMBOL[check.status]} ${check.title}`);
    if (check.remedy !== undefined) lines.push(`    → ${check.remedy}`);
  }
  lines.push(summarize(checks));
  return `${lines.join('\n')}\n`;
}

/** The checklist as one JSON document (`--json`). */
export function checklistJson(checks: readonly Check[]): string {
  return `${JSON.stringify({ ok: !hasFailure(checks), summary: summarize(checks), checks }, null, 2)}\n`;
}
