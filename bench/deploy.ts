/**
 * Deploy latency: how long `deploy` takes from the command being sent to `OK` (certificate built, context ready),
 * one at a time and as a burst of 1,000, and how long until all 1,000 just-deployed names are served.
 * Starts its own daemon from dist/ on loopback; prints one Markdown table.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { sendCommands } from '../src/control/client.js';
import { startDaemon } from '../test/helpers/daemon.js';
import { handshake, loadAverage, machine, percentile } from './common.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ar-bench-'));
// Removed however the run ends, a daemon that never got ready included.
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const daemon = await startDaemon({ listen: ['127.0.0.1:0'], dir, args: ['--max-challenges', '2000', '--handshake-rate', '1000000', '--handshake-burst', '1000000'] });
const control = daemon.controlPath;
const cleanup = (): Promise<unknown> => daemon.stop();
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

const digest = (name: string): string => createHash('sha256').update(name).digest('hex');

const port = daemon.listeners[0]!.port;
const single: number[] = [];
for (let i = 0; i < 200; i++) {
  const name = `single-${i}.bench.test`;
  const started = performance.now();
  const [reply] = await sendCommands(control, [`deploy ${name} ${digest(name)}`]);
  single.push(performance.now() - started);
  if (!reply?.final.ok) throw new Error(`deploy failed: ${JSON.stringify(reply)}`);
}
const names = Array.from({ length: 1000 }, (_, i) => `burst-${i}.bench.test`);
const burstStarted = performance.now();
const replies = await sendCommands(control, names.map((name) => `deploy ${name} ${digest(name)}`), 120_000);
const burstMs = performance.now() - burstStarted;
if (replies.some((r) => !r.final.ok)) throw new Error('a burst deploy failed');
let served = 0;
for (const name of names) if ((await handshake(port, name)) !== undefined) served++;
const allServedMs = performance.now() - burstStarted;

console.log('| deploy | value |');
console.log('| --- | ---: |');
console.log(`| one at a time (200): p50 send → OK | ${percentile(single, 0.5).toFixed(2)} ms |`);
console.log(`| one at a time (200): p99 send → OK | ${percentile(single, 0.99).toFixed(2)} ms |`);
console.log(`| burst of 1,000 on one connection: all OK after | ${burstMs.toFixed(0)} ms (${(burstMs / 1000).toFixed(2)} ms each) |`);
console.log(`| burst of 1,000: all served (handshake checked for each) after | ${allServedMs.toFixed(0)} ms, ${served}/1000 served |`);
console.log(`\n${machine()}; node ${process.version}; load average ${loadAverage().toFixed(2)}`);
await cleanup();
