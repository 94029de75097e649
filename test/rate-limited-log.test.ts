import t from 'tap';
import type { LogValue } from '../src/log.js';
import { RateLimitedLog } from '../src/rate-limited-log.js';

t.test('logs the first hit, counts the rest of the interval, reports the count once it ends', async (t) => {
  const lines: Record<string, LogValue>[] = [];
  const flushed = new Promise<void>((resolve) => {
    const log = new RateLimitedLog(
      {
        log: (_level, _event, fields) => {
          lines.push({ ...fields });
          if (lines.length === 2) resolve();
        },
      },
      'warn',
      'limit',
      20,
    );
    for (let i = 0; i < 1000; i++) log.hit({ n: i });
  });
  t.same(lines, [{ n: 0 }], 'one line at once, however many hits');
  // The log's timer is unref'd (it must not hold a stopping daemon): keep the test process alive meanwhile.
  const keepAlive = setTimeout(() => undefined, 10_000);
  await flushed;
  clearTimeout(keepAlive);
  t.same(lines[1], { n: 999, suppressed: 999 }, 'then the count, with the last hit');
});
