import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import net from 'node:net';
import yargs from 'yargs';
import { validateCommand, VALIDATE_EXIT } from '../../src/cli/validate-command.js';
import { sendCommands } from '../../src/control/client.js';
import { Daemon } from '../../src/daemon.js';
import { silentLogger } from '../../src/log.js';
import { testDaemonOptions } from '../helpers/daemon-options.js';
import { CLI_PATH, requirePeers, run as runProcess } from '../helpers/daemon.js';
import { shortTempDir } from '../helpers/tmp.js';

const KEY_AUTHORIZATION = `token-cli.${'B'.repeat(43)}`;
const DIGEST = createHash('sha256').update(KEY_AUTHORIZATION).digest('hex');

/** Runs `argv` through a small yargs instance with only the validate command; resolves with output and exit code. */
async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const out = { stdout: '', stderr: '', code: -1 };
  const io = { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) } };
  await yargs(argv)
    .command(validateCommand(io, env, (code) => (out.code = code)))
    .strict()
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new Error(message);
    })
    .parseAsync();
  return out;
}

async function startDaemon(t: Test): Promise<number> {
  const daemon = await Daemon.start(testDaemonOptions(shortTempDir(t), { listen: [{ host: '127.0.0.1', port: 0 }] }), silentLogger);
  t.teardown(() => daemon.close());
  const [reply] = await sendCommands(daemon.control.path, [`deploy 127.0.0.1 ${DIGEST}`]);
  t.equal(reply?.final.ok, true);
  return daemon.listeners.addresses[0]!.port;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

t.test('a healthy daemon: ✓ line, exit 0; --json is the result', async (t) => {
  const port = await startDaemon(t);
  const text = await run(['validate', '127.0.0.1', '--port', String(port)]);
  t.equal(text.code, VALIDATE_EXIT.accepted);
  t.equal(
    text.stdout,
    `✓ 127.0.0.1 (SNI 1.0.0.127.in-addr.arpa): the CA would accept the certificate served by 127.0.0.1:${port} (IPv4, TLSv1.3, acme-tls/1)\n` +
      '  the key authorization was not compared: pass --expect to check it too\n',
  );
  t.equal(text.stderr, '');

  const expected = await run(['validate', '1.0.0.127.in-addr.arpa', '--port', String(port), '--expect', KEY_AUTHORIZATION]);
  t.equal(expected.code, 0);
  t.notMatch(expected.stdout, /not compared/);

  const json = await run(['validate', '127.0.0.1', '--json'], { ALPN_RESPONDER_PORT: String(port) });
  t.equal(json.code, 0, 'the port from the environment');
  t.match(JSON.parse(json.stdout), { ok: true, identifier: '127.0.0.1', attempts: [{ address: '127.0.0.1', port, outcome: 'accepted' }] });
});

t.test('a broken setup: the CA text, the likely cause, exit 1', async (t) => {
  const port = await freePort();
  const text = await run(['validate', 'a.example.test', '--host', '127.0.0.1', '--port', String(port), '--timeout', '2']);
  t.equal(text.code, VALIDATE_EXIT.rejected);
  const lines = text.stdout.split('\n');
  t.equal(lines[0], '✗ a.example.test: the CA would reject this challenge');
  t.equal(lines[1], `  127.0.0.1:${port} (IPv4): connection failed`);
  t.equal(lines[2], 'the CA would say: 127.0.0.1: Connection refused');
  t.match(lines[3], /^likely cause: nothing listens on 127\.0\.0\.1:\d+/);

  const json = await run(['validate', 'a.example.test', '--host', '127.0.0.1', '--port', String(port), '--json']);
  t.equal(json.code, 1);
  t.match(JSON.parse(json.stdout), { ok: false, problem: '127.0.0.1: Connection refused', attempts: [{ outcome: 'connect-failed' }] });
});

t.test('bad input is a usage error, exit 2', async (t) => {
  for (const argv of [
    ['validate', 'exa_mple.test'],
    ['validate', 'a.example.test', '--expect', 'nope'],
    ['validate', 'a.example.test', '--port', '70000'],
  ]) {
    const out = await run(argv);
    t.equal(out.code, VALIDATE_EXIT.usage, argv.join(' '));
    t.match(out.stderr, /^alpn-responder: ERR_[A-Z_]+: .+\n  \S/);
    t.equal(out.stdout, '');
  }
});

t.test('--timeout takes the duration syntax of serve\'s options; a bad one is one ERR_BAD_OPTION line, exit 2', async (t) => {
  const allowed = 'a duration from 1ms to 10m such as 10s or 500ms (a bare number is seconds)';
  for (const bad of ['abc', '0', '-1', '11m', '5x']) {
    const out = await run(['validate', 'a.example.test', '--host', '127.0.0.1', '--timeout', bad]);
    t.equal(out.code, VALIDATE_EXIT.usage, bad);
    t.equal(out.stderr, `alpn-responder: ERR_BAD_OPTION --timeout "${bad}": ${allowed}\n`, bad);
    t.notMatch(out.stderr, /NaN|between 0/);
  }
  for (const good of ['500ms', '2s', '2']) {
    const out = await run(['validate', '127.0.0.1', '--port', '1', '--timeout', good]);
    t.equal(out.code, VALIDATE_EXIT.rejected, `${good}: accepted, and the check ran (nothing listens on port 1)`);
  }
});

t.test('validate --help: --resolver, and no --control (validate never talks to the daemon)', requirePeers(t, [], true), async (t) => {
  const help = await runProcess(process.execPath, [CLI_PATH, 'validate', '--help']);
  t.equal(help.code, 0, help.stderr);
  t.match(help.stdout, /--resolver\s+IP:PORT of a DNS server/);
  t.notMatch(help.stdout, /--control/);
});
