/**
 * hooks/dehydrated-hook.sh's startup_hook (a quick doctor before dehydrated --cron orders anything) and
 * invalid_challenge (the CA's error with its hint), against a real daemon and nginx, with the RESPONSE rendered by
 * dehydrated's own JSON.sh code.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { cleanEnv, hasIPv6Loopback, REPO_ROOT, requireCapability, requirePeers, run, startDaemon, type RunResult } from '../helpers/daemon.js';
import { startNginx } from '../helpers/nginx.js';
import { silentSocket } from '../helpers/silent-socket.js';
import { shortTempDir } from '../helpers/tmp.js';

const HOOK = path.join(REPO_ROOT, 'hooks', 'dehydrated-hook.sh');

function hook(args: readonly string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return run(HOOK, args, { env: cleanEnv(env), timeoutMs: 30_000 });
}

const TRANSPORTS = [
  { name: 'cli', peers: [] as string[] },
  { name: 'nc', peers: ['nc'] },
  { name: 'socat', peers: ['socat'] },
] as const;

/** What dehydrated hands to invalid_challenge: the challenge object through its own jsonsh function. */
async function dehydratedResponse(challenge: object): Promise<string> {
  const script = 'source <(sed -n "/^jsonsh() {/,/^}/p" "$(command -v dehydrated)") && jsonsh';
  const result = await run('bash', ['-c', script], { input: JSON.stringify(challenge), timeoutMs: 10_000 });
  if (result.code !== 0 || result.stdout === '') throw new Error(`jsonsh failed: ${result.stderr}`);
  // dehydrated keeps it as $(… | jsonsh): without the trailing newline.
  return result.stdout.trimEnd();
}

t.test('startup_hook', requirePeers(t, ['bash'], true), async (t) => {
  const dir = shortTempDir(t);
  const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir: path.join(dir, 'daemon') });
  t.teardown(() => daemon.stop());
  // The CA here is a test CA on this host that dials the daemon's port (as pebble dials its tlsPort).
  const caPort = String(daemon.listeners[0]?.port);

  for (const transport of TRANSPORTS) {
    t.test(`transport ${transport.name}`, requirePeers(t, transport.peers), async (t) => {
      const healthy = await hook(['startup_hook'], { ALPN_RESPONDER_CONTROL: daemon.controlPath, ALPN_RESPONDER_TRANSPORT: transport.name, ALPN_RESPONDER_CA_PORT: caPort });
      t.equal(healthy.code, 0, 'a healthy daemon: exit 0', healthy);
      t.match(healthy.stdout, /alpn-responder: .*(control socket|version=)/, 'says what it checked');

      const down = await hook(['startup_hook'], { ALPN_RESPONDER_CONTROL: path.join(dir, 'nope.sock'), ALPN_RESPONDER_TRANSPORT: transport.name });
      t.not(down.code, 0, 'no daemon: non-zero, so dehydrated stops before ordering');
      t.match(down.stderr, /control socket/, 'naming the control socket', down);

      const silent = await silentSocket(t, shortTempDir(t));
      const mute = await hook(['startup_hook'], { ALPN_RESPONDER_CONTROL: silent.path, ALPN_RESPONDER_TRANSPORT: transport.name, ALPN_RESPONDER_TIMEOUT: '1' });
      t.not(mute.code, 0, 'a daemon that never answers: non-zero');
      // Bounded by its own ALPN_RESPONDER_TIMEOUT, not by the test's hang guard (which would kill it: a signal name).
      t.type(mute.code, 'number', `it gave up by itself (${mute.code}, in ${mute.ms.toFixed(0)} ms)`);
    });
  }

  t.test('ALPN_RESPONDER_NEXT_HOOK gets startup_hook after a passing check only', async (t) => {
    const record = path.join(dir, 'next.log');
    const next = path.join(dir, 'next.sh');
    await writeFile(next, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${record}'\n`);
    await chmod(next, 0o755);
    const ok = await hook(['startup_hook'], { ALPN_RESPONDER_CONTROL: daemon.controlPath, ALPN_RESPONDER_NEXT_HOOK: next, ALPN_RESPONDER_CA_PORT: caPort });
    t.equal(ok.code, 0, ok.stderr);
    const down = await hook(['startup_hook'], { ALPN_RESPONDER_CONTROL: path.join(dir, 'nope.sock'), ALPN_RESPONDER_NEXT_HOOK: next });
    t.not(down.code, 0);
    t.same((await readFile(record, 'utf8')).split('\n').filter(Boolean), ['startup_hook']);
  });
});

const ipv6 = requireCapability(t, await hasIPv6Loopback(), 'no IPv6 loopback here to share a port across families');
t.test('startup_hook: another process on the daemon\'s port', { ...requirePeers(t, ['bash', 'nginx'], true), ...ipv6 }, async (t) => {
  // nginx on [::1]:P and the daemon on 127.0.0.1:P: the CA reaching the name over IPv6 would meet nginx.
  const nginx = await startNginx(t, { mode: 'snippet', host: '::1', http: (port) => `server { listen [::1]:${port}; return 204; }` });
  const daemon = await startDaemon({ listen: [`127.0.0.1:${nginx.port}`], dir: shortTempDir(t) });
  t.teardown(() => daemon.stop());
  const result = await hook(['startup_hook'], { ALPN_RESPONDER_CONTROL: daemon.controlPath, ALPN_RESPONDER_TRANSPORT: 'cli', ALPN_RESPONDER_CA_PORT: String(nginx.port) });
  t.equal(result.code, 1, 'dehydrated stops', result);
  t.match(result.stderr, new RegExp(`✗ port ${nginx.port}: nginx \\(pid \\d+\\) listens on \\[::1\\], not alpn-responder`));
});

t.test('invalid_challenge logs the CA\'s detail with its hint, exits 0', requirePeers(t, ['bash', 'dehydrated'], true), async (t) => {
  const dir = shortTempDir(t);
  const silent = await silentSocket(t, dir);
  const response = await dehydratedResponse({
    type: 'tls-alpn-01',
    url: 'https://acme.example/chall/1',
    status: 'invalid',
    error: {
      type: 'urn:ietf:params:acme:error:unauthorized',
      detail: 'Incorrect validation certificate for tls-alpn-01 challenge. Requested example.org from [2001:db8::1]:443. Received certificate which is not self-signed.',
      status: 403,
    },
    token: 'token',
  });
  t.match(response, /^\["error","detail"\]\t"Incorrect validation certificate/m, 'dehydrated\'s JSON.sh form');

  const env = { ALPN_RESPONDER_CONTROL: silent.path };
  const explained = await hook(['invalid_challenge', 'example.org', response], env);
  t.equal(explained.code, 0, explained.stderr);
  t.match(explained.stderr, /the CA could not validate example\.org/);
  t.match(explained.stderr, /CA: Incorrect validation certificate for tls-alpn-01 challenge\. Requested example\.org from \[2001:db8::1\]:443\. Received certificate which is not self-signed\. \(urn:ietf:params:acme:error:unauthorized\)/);
  t.match(explained.stderr, /hint: Something other than alpn-responder answered the CA with an ordinary certificate/);
  t.match(explained.stderr, /hint: The CA connected over IPv6/);

  const withoutCli = await hook(['invalid_challenge', 'example.org', response], { ...env, ALPN_RESPONDER_BIN: path.join(dir, 'no-such-cli') });
  t.equal(withoutCli.code, 0);
  t.match(withoutCli.stderr, /CA: Incorrect validation certificate for tls-alpn-01 challenge\. Requested example\.org/, 'without the CLI: the detail still');
  t.match(withoutCli.stderr, /hint: run `alpn-responder doctor`/);
  t.equal(silent.connections(), 0, 'the control socket is not needed');

  const record = path.join(dir, 'next.log');
  const next = path.join(dir, 'next.sh');
  await writeFile(next, `#!/bin/sh\nprintf '%s|%s\\n' "$1" "$2" >> '${record}'\nexit 3\n`);
  await chmod(next, 0o755);
  const chained = await hook(['invalid_challenge', 'example.org', response], { ...env, ALPN_RESPONDER_NEXT_HOOK: next });
  t.equal(chained.code, 3, 'the next hook gets invalid_challenge and decides the exit status');
  t.equal(await readFile(record, 'utf8'), 'invalid_challenge|example.org\n');
});
