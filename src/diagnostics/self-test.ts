/**
 * The doctor's self-test: deploys a throwaway challenge through the control socket, validates it the way the CA
 * would through every listening socket on the examined ports (each family a wildcard accepts, see
 * `self-test-plan.ts`), and always cleans it up again.
 */
import { randomBytes } from 'node:crypto';
import { sendCommands, type Reply } from '../control/client.js';
import { AlpnResponderError } from '../errors.js';
import { formatListenAddress } from '../net/listen-address.js';
import { caHints } from './ca-hint.js';
import type { Check } from './checklist.js';
import type { ListeningSocket, SocketVerdict } from './port-owner.js';
import { socketFor, type SelfTestPlan, type SelfTestProbe } from './self-test-plan.js';
import { validate, type ValidationResult } from './validate.js';

/** How long the throwaway challenge lives if cleaning it fails: long enough for the test, short enough to forget. */
const SELF_TEST_TTL_SECONDS = 60;

/** What the self-test found. */
export interface SelfTest {
  readonly checks: readonly Check[];
  /** The verdict on one socket of the table the plan was made from. */
  throughSocket(socket: ListeningSocket): SocketVerdict;
}

interface Outcome {
  readonly probe: SelfTestProbe;
  readonly result: ValidationResult;
}

function where(probe: SelfTestProbe): string {
  return formatListenAddress({ host: probe.host, port: probe.port });
}

/** True when the connection was made, so that whatever answered is the socket the kernel chose. */
function connected(result: ValidationResult): boolean {
  const last = result.attempts[result.attempts.length - 1];
  return last !== undefined && last.outcome !== 'connect-failed';
}

/** A name no CA will ever ask for (RFC 6761 `.invalid`), random so that parallel runs do not meet. */
function throwawayName(): string {
  return `doctor-${randomBytes(6).toString('hex')}.alpn-responder.invalid`;
}

function outcomeCheck(outcome: Outcome, frontPassed: boolean): Check {
  const { result } = outcome;
  const via = where(outcome.probe);
  if (result.ok) {
    const how = [result.tlsVersion, typeof result.alpn === 'string' ? result.alpn : undefined].filter(Boolean).join(', ');
    return { id: 'self-test', status: 'pass', title: `self-test via ${via}: the challenge certificate passes the CA's checks${how ? ` (${how})` : ''}` };
  }
  const problem = result.problem ?? 'the validation failed';
  if (outcome.probe.daemon && frontPassed) {
    // Behind a front proxy the daemon takes only connections with a PROXY header, which the direct test lacks.
    return {
      id: 'self-test',
      status: 'warn',
      title: `self-test via ${via}: ${problem}`,
      remedy: 'Expected when the daemon runs with --accept-proxy-protocol behind a front proxy: the self-test through the front passed.',
    };
  }
  return { id: 'self-test', status: 'fail', title: `self-test via ${via}: ${problem}`, remedy: result.hint ?? caHints(problem, { inDoctor: true })[0] ?? '' };
}

/** Sends one control command: undefined when it is answered OK, else the ERR line. */
async function command(controlPath: string, line: string, timeoutMs: number): Promise<string | undefined> {
  // One command in, so exactly one reply out (sendCommands rejects otherwise).
  const [reply] = (await sendCommands(controlPath, [line], timeoutMs)) as [Reply];
  return reply.final.ok ? undefined : `ERR ${reply.final.shortCode} ${reply.final.message}`;
}

/**
 * Runs the self-test's connections. `sockets` is the table `plan` was made from; `timeoutMs` bounds each control
 * command and each validation.
 */
export async function runSelfTest(
  controlPath: string,
  plan: SelfTestPlan,
  sockets: readonly ListeningSocket[],
  timeoutMs: number,
): Promise<SelfTest> {
  const name = throwawayName();
  const digest = randomBytes(32).toString('hex');
  const refused = (why: string, remedy: string): SelfTest => ({
    checks: [{ id: 'self-test', status: 'fail', title: `self-test: the daemon did not take the throwaway challenge ${name}: ${why}`, remedy }],
    throughSocket: () => ({ kind: 'untested', why: 'the self-test did not run' }),
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
    const runs = plan.probes.map(async (probe) => ({
      probe,
      result: await validate({ name, host: probe.host, port: probe.port, expect: digest, timeoutMs, inDoctor: true }).catch(
        (error: unknown): ValidationResult => {
          // Only a --listen host that does not resolve gets here: the name and digest are ours and valid.
          if (!(error instanceof AlpnResponderError)) throw error;
          return { ok: false, identifier: name, sni: name, attempts: [], problem: error.message, hint: error.remedy };
        },
      ),
    }));
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
  const frontPassed = outcomes.some((o) => !o.probe.daemon && o.result.ok);
  return {
    checks: [...outcomes.map((o) => outcomeCheck(o, frontPassed)), ...checks],
    throughSocket: (socket) => verdict(socket, outcomes, plan, sockets),
  };
}

function verdict(socket: ListeningSocket, outcomes: readonly Outcome[], plan: SelfTestPlan, sockets: readonly ListeningSocket[]): SocketVerdict {
  // Compared by address and port, not identity: processes sharing one socket (nginx's master and workers, the
  // daemon's workers) are listed once per process.
  const same = (s: ListeningSocket | undefined): boolean => s !== undefined && s.address === socket.address && s.port === socket.port;
  const landed = outcomes.filter((o) => connected(o.result) && same(socketFor(o.probe.host, o.probe.port, sockets)));
  const failed = landed.find((o) => !o.result.ok);
  if (failed !== undefined) return { kind: 'failed', via: where(failed.probe), problem: failed.result.problem ?? 'the validation failed' };
  const passed = landed[0];
  if (passed !== undefined) return { kind: 'passed', via: where(passed.probe) };
  const planned = plan.untested.find((u) => same(u.socket));
  if (planned !== undefined) return { kind: 'untested', why: planned.why };
  const tried = outcomes.filter((o) => same(socketFor(o.probe.host, o.probe.port, sockets)));
  if (tried.length === 0) return { kind: 'untested', why: 'no self-test connection reaches it from this host' };
  return { kind: 'untested', why: `the self-test could not connect through it (${tried.map((o) => `${where(o.probe)}: ${o.result.problem ?? 'failed'}`).join('; ')})` };
}
