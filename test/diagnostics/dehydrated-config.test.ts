/**
 * dehydrated config: shell assignments read without running them (fixtures, including Debian's packaged config),
 * the judgement of CHALLENGETYPE / HOOK / HOOK_CHAIN / ALPN_RESPONDER_CONTROL, and finding the files on disk.
 */
import { chmod, copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import type { Check } from '../../src/diagnostics/checklist.js';
import { examineDehydratedConfig, installedHook, OUR_HOOK } from '../../src/diagnostics/dehydrated-config-files.js';
import { judgeDehydratedConfig, parseShellAssignments, type HookFacts } from '../../src/diagnostics/dehydrated-config.js';
import { shortTempDir } from '../helpers/tmp.js';
import { REPO_ROOT as REPO } from '../helpers/daemon.js';

const values = (text: string, file = 'config') =>
  Object.fromEntries([...parseShellAssignments(text, file)].map(([name, v]) => [name, v.value]));

t.test('simple assignments, quotes, expansions and exports', async (t) => {
  const vars = parseShellAssignments(
    [
      '# comment',
      'CHALLENGETYPE="tls-alpn-01"',
      "HOOK='/opt/alpn-responder/hooks/dehydrated-hook.sh'   # trailing comment",
      'BASEDIR=/var/lib/dehydrated',
      'CERTDIR="${BASEDIR}/certs"',
      'ALPNCERTDIR=$BASEDIR/alpn-certs',
      'DEFAULTED=${UNSET_THING:-fallback}',
      'export ALPN_RESPONDER_CONTROL=/run/custom/control.sock',
      'ALPN_RESPONDER_TTL=600',
      'export ALPN_RESPONDER_TTL',
      '  HOOK_CHAIN=yes  ',
      'ESCAPED="a \\"quoted\\" \\$word"',
      'HASH=a#b',
    ].join('\n'),
    'config',
  );
  const get = (name: string) => vars.get(name);
  t.equal(get('CHALLENGETYPE')?.value, 'tls-alpn-01');
  t.equal(get('HOOK')?.value, '/opt/alpn-responder/hooks/dehydrated-hook.sh');
  t.equal(get('CERTDIR')?.value, '/var/lib/dehydrated/certs');
  t.equal(get('ALPNCERTDIR')?.value, '/var/lib/dehydrated/alpn-certs');
  t.equal(get('DEFAULTED')?.value, 'fallback');
  t.same(get('ALPN_RESPONDER_CONTROL'), { value: '/run/custom/control.sock', raw: '/run/custom/control.sock', exported: true, where: 'config:8' });
  t.equal(get('ALPN_RESPONDER_TTL')?.exported, true, '`export NAME` after the assignment exports it');
  t.equal(get('HOOK_CHAIN')?.value, 'yes');
  t.equal(get('ESCAPED')?.value, 'a "quoted" $word');
  t.equal(get('HASH')?.value, 'a#b', '# inside a word is not a comment');
  t.equal(get('CHALLENGETYPE')?.exported, false);
});

t.test('what needs a shell is unknown, never guessed or run', async (t) => {
  const v = values(
    ['A=$(hostname)', 'B=`id -u`', 'C="${HOME}/x"', 'D="unterminated', 'E=x some-command', 'if [ -x /x ]; then F=1; fi', 'G=${#X}'].join('\n'),
  );
  t.equal(v.A, undefined);
  t.equal(v.B, undefined);
  t.equal(v.C, undefined, 'a variable the file does not set is unknown (dehydrated\'s environment is not ours)');
  t.equal(v.D, undefined);
  t.notOk('E' in v, 'KEY=value cmd sets it for the command only');
  t.notOk('F' in v, 'not a simple assignment line');
  t.equal(v.G, undefined);
  const later = parseShellAssignments('HOOK=$(which hook)\n', 'config');
  t.equal(later.get('HOOK')?.raw, '$(which hook)', 'the raw text is kept for the message');
});

t.test('Debian\'s packaged config', async (t) => {
  const text = await readFile(new URL('fixtures/debian-dehydrated-config', import.meta.url), 'utf8');
  const v = values(text);
  t.same(v, {
    CONFIG_D: '/etc/dehydrated/conf.d',
    BASEDIR: '/var/lib/dehydrated',
    WELLKNOWN: '/var/lib/dehydrated/acme-challenges',
    DOMAINS_TXT: '/etc/dehydrated/domains.txt',
  });
});

const hookFacts = (overrides: Partial<HookFacts> = {}): HookFacts => ({
  path: '/opt/alpn-responder/hooks/dehydrated-hook.sh',
  exists: true,
  executable: true,
  ours: true,
  mentionsUs: true,
  ...overrides,
});

/** Where the Debian package installs the hook: the remedies name the running installation's, never /opt/. */
const DEB_HOOK = '/usr/share/alpn-responder/dehydrated-hook.sh';

function judge(text: string, hook?: HookFacts) {
  const vars = parseShellAssignments(text, 'config');
  return judgeDehydratedConfig({ files: ['config'], vars, ourHook: DEB_HOOK, ...(hook === undefined ? {} : { hook }) }).map((c) => `${c.status} ${c.title}`);
}

t.test('judgement', async (t) => {
  const good = judge('CHALLENGETYPE="tls-alpn-01"\nHOOK=/opt/alpn-responder/hooks/dehydrated-hook.sh\nHOOK_CHAIN=yes\n', hookFacts());
  t.same(good, [
    'info dehydrated: read config',
    'pass dehydrated: CHALLENGETYPE is tls-alpn-01 (config:1)',
    "pass dehydrated: HOOK is alpn-responder's hook (/opt/alpn-responder/hooks/dehydrated-hook.sh)",
    'info dehydrated: HOOK_CHAIN=yes: one hook call for all names of a certificate (one control connection with the nc and socat transports, one per name with the CLI); fine',
  ]);
  t.match(judge(''), ['info', /^fail .*CHALLENGETYPE is not set, so dehydrated uses http-01/, /^fail .*HOOK is not set/, /^info .*HOOK_CHAIN=no: one hook call per name; fine/]);
  t.match(judge('CHALLENGETYPE=http-01\n')[1], /^fail .*"http-01" \(config:1\), not tls-alpn-01/);
  t.match(judge('CHALLENGETYPE=$(cat /x)\n')[1], /^warn .*cannot be read without running the shell/);
  const hookLine = (hook: HookFacts) => judge('CHALLENGETYPE=tls-alpn-01\nHOOK=/x\n', hook)[2];
  t.match(hookLine(hookFacts({ exists: false, path: '/x' })), /^fail .*HOOK \/x \(config:2\) does not exist/);
  t.match(hookLine(hookFacts({ executable: false, path: '/x' })), /^fail .*is not executable/);
  t.match(hookLine(hookFacts({ ours: false, path: '/x' })), /^warn .*another script that refers to alpn-responder/);
  t.match(hookLine(hookFacts({ ours: false, mentionsUs: false, path: '/x' })), /^fail .*is not alpn-responder's hook and does not refer to it/);
  t.match(judge('export ALPN_RESPONDER_CONTROL=/run/x.sock\n'), [/./, /./, /./, /./, /^info .*uses the control socket \/run\/x\.sock/]);
  t.match(judge('ALPN_RESPONDER_CONTROL=/run/x.sock\n')[4], /^warn .*set \(config:1\) but not exported: the hook does not see it/);
});

t.test('the remedies name the hook of the running installation', async (t) => {
  const remedies = (text: string, hook?: HookFacts) =>
    judgeDehydratedConfig({ files: ['config'], vars: parseShellAssignments(text, 'config'), ourHook: DEB_HOOK, ...(hook === undefined ? {} : { hook }) })
      .filter((c) => c.title.includes('HOOK'))
      .map((c) => c.remedy ?? '');
  const wanted = `Set HOOK="${DEB_HOOK}" (the hook of this installation)`;
  t.match(remedies(''), [new RegExp(`^${wanted.replace(/[.()]/g, '\\$&')}\\.`)], 'HOOK not set');
  t.match(remedies('HOOK=/x\n', hookFacts({ exists: false, path: '/x' })), [new RegExp(DEB_HOOK)], 'HOOK missing');
  t.match(remedies('HOOK=/x\n', hookFacts({ ours: false, mentionsUs: false, path: '/x' })), [new RegExp(DEB_HOOK)], 'another hook');
  t.notMatch(remedies('').join(), /\/opt\//);
  const dir = shortTempDir(t);
  const deb = path.join(dir, 'share', 'dehydrated-hook.sh');
  t.equal(installedHook([path.join(dir, 'hooks', 'dehydrated-hook.sh'), deb]), path.join(dir, 'hooks', 'dehydrated-hook.sh'), 'none exists: the clone layout');
  await mkdir(path.dirname(deb));
  await writeFile(deb, '#!/bin/sh\n');
  t.equal(installedHook([path.join(dir, 'hooks', 'dehydrated-hook.sh'), deb]), deb, 'the packaged one when it is the one there');
  t.equal(OUR_HOOK, path.join(REPO, 'hooks', 'dehydrated-hook.sh'), 'from this checkout: its hooks/');
});

const hookCheck = (report: { checks: readonly Check[] }) => report.checks.find((c) => c.title.startsWith('dehydrated: HOOK '));

t.test('finding and reading the files', async (t) => {
  const dir = shortTempDir(t);
  const confD = path.join(dir, 'conf.d');
  await mkdir(confD);
  const config = path.join(dir, 'config');
  // Debian's config with its CONFIG_D pointed here, and the snippet from docs/layouts.md in conf.d.
  const debian = await readFile(new URL('fixtures/debian-dehydrated-config', import.meta.url), 'utf8');
  await writeFile(config, debian.replace('CONFIG_D=/etc/dehydrated/conf.d', `CONFIG_D=${confD}`));
  const link = path.join(dir, 'hook.sh');
  await symlink(OUR_HOOK, link);
  await writeFile(path.join(confD, 'alpn-responder.sh'), `CHALLENGETYPE="tls-alpn-01"\nHOOK="${link}"\nexport ALPN_RESPONDER_CONTROL=${dir}/c.sock\n`);
  await writeFile(path.join(confD, 'ignored.conf'), 'CHALLENGETYPE=http-01\n');

  const report = await examineDehydratedConfig(config);
  t.same(
    report.checks.map((c) => c.status),
    ['info', 'pass', 'pass', 'info', 'info'],
    report.checks.map((c) => c.title).join('\n'),
  );
  t.match(report.checks[0]?.title, `read ${config}, ${path.join(confD, 'alpn-responder.sh')}`);
  t.equal(report.controlPath, `${dir}/c.sock`, 'the control socket exported to the hook');

  const copy = path.join(dir, 'copy-of-hook.sh');
  await copyFile(OUR_HOOK, copy);
  await chmod(copy, 0o755);
  const wrapper = path.join(dir, 'wrapper.sh');
  await writeFile(wrapper, `#!/bin/sh\nexec ${OUR_HOOK} "$@"\n`, { mode: 0o755 });
  const other = path.join(dir, 'other.sh');
  await writeFile(other, '#!/bin/sh\necho certbot-ish\n', { mode: 0o755 });
  for (const [hook, status] of [
    [copy, 'pass'],
    [wrapper, 'warn'],
    [other, 'fail'],
  ] as const) {
    const single = path.join(dir, `config-${path.basename(hook)}`);
    await writeFile(single, `CHALLENGETYPE=tls-alpn-01\nHOOK=${hook}\n`);
    t.equal(hookCheck(await examineDehydratedConfig(single))?.status, status, path.basename(hook));
  }

  const noConfD = path.join(dir, 'no-config-d');
  await writeFile(noConfD, 'CHALLENGETYPE=tls-alpn-01\n');
  t.match((await examineDehydratedConfig(noConfD)).checks[1]?.title, /conf\.d holds \*\.sh files, but dehydrated does not read them: CONFIG_D is not set/);
  const missing = path.join(dir, 'missing-config-d');
  await writeFile(missing, `CONFIG_D=${dir}/nope\n`);
  t.match((await examineDehydratedConfig(missing)).checks[1], { status: 'fail', title: /is not a directory: dehydrated stops/ });

  t.match((await examineDehydratedConfig(path.join(dir, 'absent'))).checks, [{ status: 'warn', title: /cannot read .*absent \(ENOENT\)/ }]);
  const searched = await examineDehydratedConfig(undefined, [path.join(dir, 'nope-1'), noConfD], OUR_HOOK, []);
  t.match(searched.checks[0]?.title, `read ${noConfD} (dehydrated's default config)`, 'the first existing search path is used');
  t.match((await examineDehydratedConfig(undefined, [path.join(dir, 'nope')], OUR_HOOK, [])).checks, [{ status: 'info', title: /no config at/ }]);

  const huge = path.join(dir, 'huge');
  await writeFile(huge, `CHALLENGETYPE=tls-alpn-01\n${'#'.repeat(1024 * 1024)}\nHOOK=/beyond/the/bound\n`);
  t.match(hookCheck(await examineDehydratedConfig(huge))?.title, /HOOK is not set/, 'only the first 256 KiB are read');
});

t.test('the config dehydrated is started with (-f in cron or a unit) is suggested as --dehydrated-config', async (t) => {
  const dir = shortTempDir(t);
  const defaultConfig = path.join(dir, 'config');
  await writeFile(defaultConfig, 'CHALLENGETYPE=http-01\n');
  const cronD = path.join(dir, 'cron.d');
  await mkdir(cronD);
  await writeFile(path.join(cronD, 'dehydrated'), '# dehydrated -f /nope\n17 3 * * * root /usr/bin/dehydrated --cron -f /etc/dehydrated/alpn.conf >/dev/null\n');
  const report = await examineDehydratedConfig(undefined, [defaultConfig], OUR_HOOK, [path.join(dir, 'crontab'), cronD]);
  t.match(report.checks[1], {
    status: 'warn',
    title: `dehydrated: dehydrated is started with -f /etc/dehydrated/alpn.conf (${path.join(cronD, 'dehydrated')}), not with the config read here`,
    remedy: 'Pass the config dehydrated really uses: --dehydrated-config /etc/dehydrated/alpn.conf.',
  });
  t.match(report.checks.find((c) => c.title.includes('CHALLENGETYPE'))?.remedy, /If dehydrated runs with -f FILE, that file is the one to fix: pass it as --dehydrated-config FILE\./);
  const given = await examineDehydratedConfig(defaultConfig, [], OUR_HOOK, [cronD]);
  t.notOk(given.checks.some((c) => /--dehydrated-config/.test(c.remedy ?? '')), 'a config given explicitly is taken as the one in use');
  const none = await examineDehydratedConfig(undefined, [path.join(dir, 'nope')], OUR_HOOK, [cronD]);
  t.match(none.checks, [{ status: 'warn', remedy: 'Pass it: --dehydrated-config /etc/dehydrated/alpn.conf.' }]);
});
