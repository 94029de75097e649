/**
 * The `doctor` command on a parser set up as `main()` sets it up (global --control), in process: options from
 * flags and ALPN_RESPONDER_* variables, text and JSON output, exit codes, --explain.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import t, { type Test } from 'tap';
import yargs from 'yargs';
import { registerDoctorCommand } from '../../src/cli/doctor-command.js';
import { DEFAULT_CONTROL_PATH } from '../../src/constants.js';
import { Daemon } from '../../src/daemon.js';
import type { Check } from '../../src/diagnostics/checklist.js';
import { OUR_HOOK } from '../../src/diagnostics/dehydrated-config-files.js';
import { hasCode } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { testDaemonOptions } from '../helpers/daemon-options.js';
import { shortTempDir } from '../helpers/tmp.js';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function doctor(argv: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  const outcome: Outcome = { code: -1, stdout: '', stderr: '' };
  const io = { stdout: { write: (s: string) => (outcome.stdout += s) }, stderr: { write: (s: string) => (outcome.stderr += s) } };
  const parser = yargs(['doctor', ...argv])
    .option('control', { type: 'string', default: env.ALPN_RESPONDER_CONTROL ?? DEFAULT_CONTROL_PATH, global: true })
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new Error(message);
    });
  registerDoctorCommand(parser, { io, env, setExitCode: (code) => (outcome.code = code) });
  await parser.parseAsync();
  return outcome;
}

async function setup(t: Test) {
  const dir = shortTempDir(t);
  const daemon = await Daemon.start(testDaemonOptions(dir, { listen: [{ host: '127.0.0.1', port: 0 }] }), silentLogger);
  t.teardown(() => daemon.close());
  const config = path.join(dir, 'dehydrated-config');
  await writeFile(config, `CHALLENGETYPE=tls-alpn-01\nHOOK=${OUR_HOOK}\n`);
  return { dir, daemon, control: daemon.control.path, config };
}

t.test('a daemon on 127.0.0.1 only: ✓ lines for what works, ✗ for port 443 the CA cannot reach, exit 1', async (t) => {
  const { control, config, daemon } = await setup(t);
  const result = await doctor(['--control', control, '--dehydrated-config', config]);
  t.equal(result.code, 1, result.stdout);
  t.match(result.stdout, /^✗ port 443: the CA connects to port 443 only/m);
  const port = daemon.listeners.addresses[0]!.port;
  t.match(result.stdout, new RegExp(`^✓ control socket ${control}: alpn-responder `, 'm'));
  t.match(result.stdout, new RegExp(`^✓ port ${port}: alpn-responder \\(pid ${process.pid}, node\\) on 127\\.0\\.0\\.1`, 'm'));
  t.match(result.stdout, new RegExp(`^✓ self-test via 127\\.0\\.0\\.1:${port}: the challenge certificate passes`, 'm'));
  t.same(result.stdout.match(/^[✗!].*/gm), [result.stdout.match(/^✗ port 443: .*/m)?.[0]], 'no other failure, no warning');
  t.match(result.stdout, /\ndoctor: 1 problem would make a validation fail/);
});

t.test('--json, and every option from ALPN_RESPONDER_*', async (t) => {
  const { control, config, daemon } = await setup(t);
  const port = daemon.listeners.addresses[0]!.port;
  const result = await doctor([], {
    ALPN_RESPONDER_CONTROL: control,
    ALPN_RESPONDER_DEHYDRATED_CONFIG: config,
    ALPN_RESPONDER_JSON: 'true',
    ALPN_RESPONDER_QUICK: 'true',
    ALPN_RESPONDER_LISTEN: `127.0.0.1:${port} 127.0.0.1:${port}`,
  });
  const parsed = JSON.parse(result.stdout) as { ok: boolean; checks: Check[] };
  t.equal(parsed.ok, result.code === 0);
  t.same(parsed.checks.map((c) => c.id), ['control', 'port', 'ca-port'], 'quick: control socket, port owners and port 443 only, the port once');
  t.same(parsed.checks.filter((c) => c.id !== 'ca-port' && c.status !== 'pass'), [], 'all but port 443 pass');
});

t.test('no daemon: ✗ with remedy, exit 1', async (t) => {
  const dir = shortTempDir(t);
  const result = await doctor(['--control', path.join(dir, 'control.sock'), '--quick']);
  t.equal(result.code, 1);
  t.match(result.stdout, /^✗ control socket .*: no such socket/m);
  t.match(result.stdout, /^ {4}→ Start the daemon/m);
  t.match(result.stdout, /doctor: \d+ problems? would make a validation fail/);
});

t.test('a bad --listen is the usual ERR_BAD_LISTEN_ADDRESS', async (t) => {
  const error: unknown = await doctor(['--listen', 'nonsense', '--quick']).catch((e: unknown) => e);
  t.ok(hasCode(error, 'ERR_BAD_LISTEN_ADDRESS'), String(error));
});

t.test('--ca-port: the CA\'s port (a test CA\'s own); anything but a TCP port is ERR_BAD_OPTION', async (t) => {
  for (const bad of ['0', '65536', 'abc', '-1', '44 3', '']) {
    const error: unknown = await doctor(['--ca-port', bad, '--quick']).catch((e: unknown) => e);
    t.ok(hasCode(error, 'ERR_BAD_OPTION'), `${JSON.stringify(bad)}: ${String(error)}`);
  }
  const dir = shortTempDir(t);
  const daemon = await Daemon.start(testDaemonOptions(dir, { listen: [{ host: '0.0.0.0', port: 0 }] }), silentLogger);
  t.teardown(() => daemon.close());
  const port = daemon.listeners.addresses[0]!.port;
  const fromFlag = await doctor(['--control', daemon.control.path, '--quick', '--ca-port', String(port)]);
  t.notMatch(fromFlag.stdout, /^✗ port 443/m, 'port 443 is not looked at when the CA uses another');
  t.match(fromFlag.stdout, new RegExp(`^✓ port ${port}: alpn-responder`, 'm'));
  t.equal(fromFlag.code, 0, fromFlag.stdout);
  const fromEnv = await doctor(['--quick'], { ALPN_RESPONDER_CONTROL: daemon.control.path, ALPN_RESPONDER_CA_PORT: String(port) });
  t.equal(fromEnv.code, 0, fromEnv.stdout);
});

t.test('--explain: the CA text and its hints, exit 0, no socket needed', async (t) => {
  const result = await doctor(['--control', '/nonexistent/control.sock', '--explain', '2001:db8::1: Connection refused']);
  t.equal(result.code, 0);
  t.match(result.stdout, /^CA: 2001:db8::1: Connection refused\nhint: Nothing accepted the connection[^\n]*\nhint: The CA connected over IPv6/);
  const json = await doctor(['--explain', '{"error":{"type":"urn:ietf:params:acme:error:tls","detail":"x: remote error: tls: unrecognized name"}}', '--json']);
  t.match(JSON.parse(json.stdout), { type: 'urn:ietf:params:acme:error:tls', detail: 'x: remote error: tls: unrecognized name', hints: [/no challenge for this name/] });
});
