import t from 'tap';
import { createStreamLogger, formatLogLine, silentLogger } from '../src/log.js';

t.test('formats logfmt lines, quoting what needs it', async (t) => {
  const time = new Date('2026-01-02T03:04:05.678Z');
  t.equal(
    formatLogLine(time, 'info', 'connection', { remote: '[::1]:5', sni: 'a.example', alpn: ['acme-tls/1', 'h2'], n: 3, ok: true, skip: undefined, none: null, msg: 'two words', empty: '' }),
    '2026-01-02T03:04:05.678Z level=info event=connection remote=[::1]:5 sni=a.example alpn=acme-tls/1,h2 n=3 ok=true msg="two words" empty=""',
  );
  t.equal(formatLogLine(time, 'warn', 'x', { evil: 'a\nlevel=error' }), '2026-01-02T03:04:05.678Z level=warn event=x evil="a\\nlevel=error"');
});

t.test('stream logger filters by level', async (t) => {
  const lines: string[] = [];
  const log = createStreamLogger({ write: (s: string) => lines.push(s) }, 'warn');
  log.log('info', 'quiet');
  log.log('error', 'loud', { a: 1 });
  t.equal(lines.length, 1);
  t.match(lines[0], /level=error event=loud a=1\n$/);
  silentLogger.log('error', 'nothing');
});
