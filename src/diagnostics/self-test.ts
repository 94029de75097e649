/**
 * The doctor's self-test: deploys a throwaway challenge through the control socket, validates it the way the CA
 * would through every listener (each family a wildcard accepts), and always cleans it up again.
 */
import { randomBytes } from 'node:crypto';
import { sendCommands, type Reply } from '../control/client.js';
import { AlpnResponderError } from '../errors.js';
import { formatListenAddress } from '../net/listen-address.js';
import { caHints } from './ca-hint.js';
import type { Check } from './checklist.js';
import { probeHosts, type ListenTarget } from './listen-targets.js';
import { validate, type ValidationResult } from './validate.js';

/** How long the throwaway challenge lives if cleaning it fails: long enough for the test, short enough to forget. */
const SELF_TEST_TTL_SECONDS = 60;

/** What the self-test found. */
export interface SelfTest {
  readonly checks: readonly Check[];
  /** True when every self-test through `port` passed. */
  passedThrough(port: number): boolean;
}

interface Outcome {
  readonly target: ListenTarget;
  readonly host: string;
  readonly result: ValidationResult;
}

/** A name no CA will ever ask for (RFC 6761 `.invalid`), random so that parallel runs do not meet. */
function throwawayName(): string {
  return `doctor-${randomBytes(6).toString('hex')}.alpn-responder.invalid`;
}

function outcomeCheck(outcome: Outcome, frontPassed: boolean): Check {
  const { result } = outcome;
  const where = formatListenAddress({ host: outcome.host, port: outcome.target.address.port });
  if (result.ok) {
    const how = [result.tlsVersion, typeof result.alpn === 'string' ? result.alpn : undefined].filter(Boolean).join(', ');
    return { id: 'self-test', status: 'pass', title: `self-test via ${where}: the challenge certificate passes the CA's checks${how ? ` (${how})` : ''}` };
  }
  const problem = result.problem ?? 'the validation failed';
  if (outcome.target.daemon && frontPassed) {
    // Behind a front proxy the daemon takes only connections with a PROXY header, which the direct test lacks.
    return {
      id: 'self-test',
      status: 'warn',
      title: `self-test via ${where}: ${problem}`,
      remedy: 'Expected when the daemon runs with --accept-proxy-protocol behind a front proxy: the self-test through the front passed.',
    };
  }
  return { id: 'self-test', status: 'fail', title: `self-test via ${where}: ${problem}`, remedy: result.hint ?? caHints(problem)[0] ?? '' };
}

/** Sends one control command: undefined when it is answered OK, else the ERR line. */
async function command(controlPath: string, line: string, timeoutMs: number): Promise<string | undefined> {
  // One command in, so exactly one reply out (sendCommands rejects otherwise).
  const [reply] = (await sendCommands(controlPath, [line], timeoutMs)) as [Reply];
  return reply.final.ok ? undefined : `ERR ${reply.final.shortCode} ${reply.final.message}`;
}

/** Runs the self-test against every target. `timeoutMs` bounds each control command and each validation. */
export async function runSelfTest(controlPath: string, targets: readonly ListenTarget[], timeoutMs: number): Promise<SelfTest> {
  const name = throwawayName();
  const digest = randomBytes(32).toString('hex');
  const refused = (why: string, remedy: string): SelfTest => ({
    checks: [{ id: 'self-test', status: 'fail', title: `self-test: the daemon did not take the throwaway challenge ${name}: ${why}`, remedy }],
    passedThrough: () => false,
  });
  try {
    const error = await command(controlPath, `deploy ${name} ${digest} ${SELF_TEST_TTL_SECONDS}`, timeoutMs);
    if (error !== undefined) return refused(error, 'docs/errors.md explains the code after ERR.');
  } catch (error) {
    if (error instanceof AlpnResponderError) return refused(error.message, error.remedy);
    throw error;
  }

  const outcomes: Outcome[] = [];
  const checks: Check[] = [];
  try {
    const runs = targets.flatMap((target) =>
      probeHosts(target.address).map(async (host) => ({
        target,
        host,
        result: await validate({ name, host, port: target.address.port, expect: digest, timeoutMs }).catch(
          (error: unknown): ValidationResult => {
            // Only a --listen host that does not resolve gets here: the name and digest are ours and valid.
            if (!(error instanceof AlpnResponderError)) throw error;
            return { ok: false, identifier: name, sni: name, attempts: [], problem: error.message, hint: error.remedy };
          },
        ),
      })),
    );
    outcomes.push(...(await Promise.all(runs)));
  } finally {
    const error = await command(controlPath, `clean ${name}`, timeoutMs).catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
    if (error !== undefined) {
      checks.push({
        id: 'self-test',
        status: 'warn',
        title: `self-test: could not clean the throwaway challenge ${name}: ${error}`,
        remedy: `Nothing to do: it expires by itself within ${SELF_TEST_TTL_SECONDS} s.`,
      });
    }
  }
  const frontPassed = outcomes.some((o) => !o.target.daemon && o.result.ok);
  return {
    checks: [...outcomes.map((o) => outcomeCheck(o, frontPassed)), ...checks],
    passedThrough: (port) => {
      const through = outcomes.filter((o) => o.target.address.port === port);
      return through.length > 0 && through.every((o) => o.result.ok);
    },
  };
}
