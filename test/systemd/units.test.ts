/**
 * The unit files in systemd/: `systemd-analyze verify` must accept them, and the paths they share with the code
 * must agree with it. systemd need not be running (verify reads the files); ExecStart= must name an executable that
 * exists, so the copies checked point at this Node and this repository's dist/cli.js.
 */
import t from 'tap';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_CONTROL_PATH } from '../../src/constants.js';
import { CLI_PATH, REPO_ROOT, requirePeers, run } from '../helpers/daemon.js';
import { shortTempDir } from '../helpers/tmp.js';

const UNIT_DIR = path.join(REPO_ROOT, 'systemd');
const INSTALLED_EXEC = '/usr/bin/node /opt/alpn-responder/dist/cli.js';
const units = readdirSync(UNIT_DIR).filter((file) => /\.(service|socket)$/.test(file)).sort();
const text = (unit: string): string => readFileSync(path.join(UNIT_DIR, unit), 'utf8');
/** Every value of `key=` in a unit, in order. */
const values = (unit: string, key: string): string[] =>
  [...text(unit).matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((match) => match[1] ?? '');

t.test('the units shipped', async (t) => {
  t.same(units, ['alpn-responder-nosocket.service', 'alpn-responder.service', 'alpn-responder.socket']);
});

t.test('systemd-analyze verify accepts every unit', requirePeers(t, ['systemd-analyze'], true), async (t) => {
  const dir = shortTempDir(t);
  for (const unit of units) {
    const original = text(unit);
    if (unit.endsWith('.service')) t.ok(original.includes(`ExecStart=${INSTALLED_EXEC} serve`), `${unit} runs ${INSTALLED_EXEC} serve`);
    writeFileSync(path.join(dir, unit), original.replaceAll(`ExecStart=${INSTALLED_EXEC}`, `ExecStart=${process.execPath} ${CLI_PATH}`));
  }
  // Relative paths: verify adds their directory to the unit search path, so Service= and Also= resolve to the copies.
  const verify = await run('systemd-analyze', ['verify', ...units.map((unit) => `./${unit}`)], { cwd: dir, timeoutMs: 20_000 });
  const output = (verify.stdout + verify.stderr).trim();
  t.comment(`systemd-analyze verify ${units.join(' ')}: exit ${verify.code}\n${output || '(no output)'}`);
  t.equal(verify.code, 0, 'verify exits 0');
  const aboutOurs = output.split('\n').filter((line) => units.some((unit) => line.includes(unit.replace(/\.\w+$/, ''))));
  t.same(aboutOurs, [], 'no error or warning about our units');

  for (const unit of units.filter((u) => u.endsWith('.service'))) {
    const security = await run('systemd-analyze', ['security', '--offline=true', `./${unit}`], { cwd: dir, timeoutMs: 20_000 });
    t.comment(security.stdout.split('\n').find((line) => line.includes('Overall exposure')) ?? security.stderr.trim());
  }
});

t.test('the units agree with the code and with each other', async (t) => {
  const socket = 'alpn-responder.socket';
  t.same(values(socket, 'ListenStream'), ['[::]:443', DEFAULT_CONTROL_PATH], 'port 443 and the control socket at the default --control path');
  t.same(values(socket, 'BindIPv6Only'), ['both'], 'dual-stack, like --listen [::]:443');
  t.same(values(socket, 'SocketMode'), ['0660']);
  t.same(values(socket, 'FileDescriptorName'), [], 'unset: it would name both sockets alike');
  t.same(values(socket, 'Service'), ['alpn-responder.service']);

  const activated = 'alpn-responder.service';
  t.match(values(activated, 'ExecStart')[0], / serve --state \/var\/lib\/alpn-responder\/state\.json$/, 'binds nothing itself');
  t.same(values(activated, 'CapabilityBoundingSet'), [''], 'no capability at all');
  t.same(values(activated, 'AmbientCapabilities'), ['']);

  const own = 'alpn-responder-nosocket.service';
  t.match(values(own, 'ExecStart')[0], new RegExp(` --control ${DEFAULT_CONTROL_PATH} `), 'control socket in its RuntimeDirectory');
  t.same(values(own, 'RuntimeDirectory'), ['alpn-responder']);
  t.same(values(own, 'CapabilityBoundingSet'), ['CAP_NET_BIND_SERVICE'], 'binding port 443 is the only privilege');
  t.same(values(own, 'AmbientCapabilities'), ['CAP_NET_BIND_SERVICE']);

  // Debian has no dehydrated group (the dehydrated package creates no account): the units' group must be the one
  // the sysusers.d file (installed by the package, run by its postinst) creates.
  const sysusers = readFileSync(path.join(UNIT_DIR, 'alpn-responder.sysusers.conf'), 'utf8');
  const groups = [...sysusers.matchAll(/^g\s+(\S+)\s+-\s*$/gm)].map((match) => match[1]);
  t.same(groups, ['alpn-responder'], 'the sysusers.d file creates the group alpn-responder');
  t.same(values(socket, 'SocketGroup'), ['alpn-responder'], 'the control socket belongs to that group');
  t.match(values(own, 'ExecStart')[0], / --control-group alpn-responder(?: |$)/, 'the nosocket service gives its socket to it');
  t.same(values(own, 'SupplementaryGroups'), ['alpn-responder'], 'and is a member, so it may');

  for (const unit of [activated, own]) {
    for (const [key, value] of Object.entries({ NoNewPrivileges: 'yes', ProtectSystem: 'strict', DynamicUser: 'yes', UMask: '0077', SystemCallFilter: '@system-service', MemoryDenyWriteExecute: 'no', Restart: 'on-failure' })) {
      t.same(values(unit, key), [value], `${unit}: ${key}=${value}`);
    }
  }
});
