/** Checklist text and JSON, and reading the daemon's status line. */
import t from 'tap';
import { checklistJson, formatChecklist, hasFailure, summarize, type Check } from '../../src/diagnostics/checklist.js';
import { formatUptime, parseStatusReply } from '../../src/diagnostics/daemon-status.js';

const checks: Check[] = [
  { id: 'control', status: 'pass', title: 'control socket /run/x.sock: alpn-responder 0.1.0' },
  { id: 'port', status: 'fail', title: 'port 443: nginx (pid 7) listens on 0.0.0.0, not alpn-responder', remedy: 'Move it.' },
  { id: 'loopback', status: 'warn', title: 'no IPv6 loopback', remedy: 'Remove the AAAA record.' },
  { id: 'dehydrated', status: 'info', title: 'dehydrated: HOOK_CHAIN=no' },
];

t.test('text: one line per check, remedy under it, summary last', async (t) => {
  t.equal(
    formatChecklist(checks),
    [
      '✓ control socket /run/x.sock: alpn-responder 0.1.0',
      '✗ port 443: nginx (pid 7) listens on 0.0.0.0, not alpn-responder',
      '    → Move it.',
      '! no IPv6 loopback',
      '    → Remove the AAAA record.',
      '· dehydrated: HOOK_CHAIN=no',
      'doctor: 1 problem would make a validation fail, 1 warning',
      '',
    ].join('\n'),
  );
  t.equal(summarize([checks[0]!]), 'doctor: nothing found that would make a validation fail');
  t.equal(summarize([checks[0]!, checks[2]!, checks[2]!]), 'doctor: nothing found that would make a validation fail (2 warnings)');
  t.ok(hasFailure(checks));
  t.notOk(hasFailure([checks[0]!, checks[2]!, checks[3]!]), 'warnings and info lines are not failures');
});

t.test('JSON', async (t) => {
  const parsed = JSON.parse(checklistJson(checks)) as { ok: boolean; summary: string; checks: Check[] };
  t.equal(parsed.ok, false);
  t.same(parsed.checks, checks);
  t.match(parsed.summary, /1 problem/);
});

t.test('status reply', async (t) => {
  t.same(parseStatusReply('version=0.1.0 uptime=3723s listeners=127.0.0.1:443,[::]:443 challenges=2 served=5 passed=0 rejected=1'), {
    version: '0.1.0',
    uptimeSeconds: 3723,
    listeners: [
      { host: '127.0.0.1', port: 443 },
      { host: '::', port: 443 },
    ],
    challenges: 2,
  });
  t.same(parseStatusReply('version=1 uptime=0s listeners=none challenges=0')?.listeners, []);
  t.equal(parseStatusReply('deployed a.example.test'), undefined, 'not a status line');
  t.equal(parseStatusReply('version=1 uptime=0s listeners=nonsense'), undefined);
  t.same([45, 125, 3723, 90_000].map(formatUptime), ['45s', '2m 5s', '1h 2m', '1d 1h']);
});
