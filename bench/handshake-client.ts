/**
 * Load-client child process of bench/index.ts (`npm run bench`), forked several times so that the client side of
 * the benchmark uses more than one core. Driven over IPC:
 *
 * - `load`: keep `concurrency` `acme-tls/1` full handshakes in flight (a new tls.connect, no session, as soon as
 *   one finishes) against `port`, SNI picked at random among `names`; `measure` starts counting (handshakes, their
 *   latency from tls.connect to 'secureConnect', and this process's own CPU), `stop` ends the loop and answers
 *   with the counts.
 * - `hold`: open `count` plain TCP connections that send nothing; `release` closes them.
 *
 * The process exits when its parent goes away, and on its own after MAX_LIFETIME_MS whatever happens.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';

export type ClientRequest =
  | {
      readonly type: 'load';
      readonly port: number;
      readonly names: readonly string[];
      readonly concurrency: number;
      readonly version: 'TLSv1.2' | 'TLSv1.3';
    }
  | { readonly type: 'measure' }
  | { readonly type: 'stop' }
  | { readonly type: 'hold'; readonly port: number; readonly count: number }
  | { readonly type: 'count' }
  | { readonly type: 'release' };

export type ClientReply =
  | { readonly type: 'ready' }
  | { readonly type: 'loading' }
  | { readonly type: 'measuring' }
  | {
      readonly type: 'stopped';
      readonly handshakes: number;
      readonly failures: number;
      /** Milliseconds, tls.connect → 'secureConnect', of every handshake counted. */
      readonly latenciesMs: number[];
      /** This process's user + system CPU over the measured window, microseconds. */
      readonly cpuUs: number;
      readonly firstError?: string;
    }
  | { readonly type: 'held'; readonly open: number; readonly failed: number }
  | { readonly type: 'counted'; readonly open: number }
  | { readonly type: 'released' };

/** Safety net: no client outlives a benchmark run by much. */
const MAX_LIFETIME_MS = 10 * 60_000;
/** Pause after a failed connection, so a refusing server does not turn the loop into a busy spin. */
const FAILURE_PAUSE_MS = 10;
/** How long a client waits for the server to close after the handshake before closing itself. */
const CLOSE_WAIT_MS = 2000;

const send = (reply: ClientReply): void => {
  process.send?.(reply);
};

let running = false;
let measuring = false;
let handshakes = 0;
let failures = 0;
let latencies: number[] = [];
let cpuStart = process.cpuUsage();
let firstError: string | undefined;
let inFlight = 0;
let onIdle: (() => void) | undefined;

function handshakeLoop(request: Extract<ClientRequest, { type: 'load' }>): void {
  if (!running) {
    if (inFlight === 0) onIdle?.();
    return;
  }
  const servername = request.names[Math.floor(Math.random() * request.names.length)] ?? 'missing';
  const started = performance.now();
  const countedFrom = measuring;
  inFlight++;
  let settled = false;
  let handshakeMs: number | undefined;
  let problem: string | undefined;
  // Both servers close the connection once the handshake is done. Waiting for that close (rather than closing
  // first) leaves the TIME_WAIT state on the server's side of each connection, so that the client's ephemeral ports
  // are not used up by tens of thousands of TIME_WAIT entries, whose reuse on loopback ends in resets.
  const closeGuard = setTimeout(() => socket.destroy(), CLOSE_WAIT_MS);
  const finish = (): void => {
    if (settled) return;
    settled = true;
    clearTimeout(closeGuard);
    inFlight--;
    const ok = handshakeMs !== undefined;
    // Counted only when it both started and ended inside the measured window.
    if (countedFrom && measuring) {
      if (ok) {
        handshakes++;
        latencies.push(handshakeMs ?? 0);
      } else {
        failures++;
        firstError ??= problem ?? `closed before the handshake (${servername})`;
      }
    }
    if (ok) handshakeLoop(request);
    else setTimeout(() => handshakeLoop(request), FAILURE_PAUSE_MS);
  };
  const socket = tls.connect({
    host: '127.0.0.1',
    port: request.port,
    servername,
    ALPNProtocols: ['acme-tls/1'],
    minVersion: request.version,
    maxVersion: request.version,
    rejectUnauthorized: false,
  });
  socket.once('secureConnect', () => {
    if (socket.alpnProtocol === 'acme-tls/1') handshakeMs = performance.now() - started;
    else {
      problem = `ALPN ${String(socket.alpnProtocol)} for ${servername}`;
      socket.destroy();
    }
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    // A reset after a completed handshake still counts as a handshake.
    if (handshakeMs === undefined) problem ??= `${error.code ?? ''} ${error.message}`;
  });
  socket.once('close', finish);
}

let held: net.Socket[] = [];

function hold(port: number, count: number): void {
  let done = 0;
  let failed = 0;
  for (let i = 0; i < count; i++) {
    const socket = net.connect({ host: '127.0.0.1', port });
    held.push(socket);
    socket.once('connect', () => {
      if (++done === count) send({ type: 'held', open: count - failed, failed });
    });
    socket.once('error', () => {
      failed++;
      if (++done === count) send({ type: 'held', open: count - failed, failed });
    });
    socket.on('close', () => {
      held = held.filter((s) => s !== socket);
    });
  }
}

process.on('message', (message: ClientRequest) => {
  switch (message.type) {
    case 'load':
      running = true;
      measuring = false;
      for (let i = 0; i < message.concurrency; i++) handshakeLoop(message);
      send({ type: 'loading' });
      break;
    case 'measure':
      handshakes = 0;
      failures = 0;
      latencies = [];
      firstError = undefined;
      cpuStart = process.cpuUsage();
      measuring = true;
      send({ type: 'measuring' });
      break;
    case 'stop': {
      measuring = false;
      const cpu = process.cpuUsage(cpuStart);
      const result: ClientReply = { type: 'stopped', handshakes, failures, latenciesMs: latencies, cpuUs: cpu.user + cpu.system, firstError };
      running = false;
      // Answer once the handshakes still in flight have ended, so the next cell starts from a quiet server.
      const answer = (): void => {
        onIdle = undefined;
        send(result);
      };
      if (inFlight === 0) answer();
      else onIdle = answer;
      break;
    }
    case 'hold':
      hold(message.port, message.count);
      break;
    case 'count':
      send({ type: 'counted', open: held.filter((s) => !s.destroyed && s.readyState === 'open').length });
      break;
    case 'release':
      for (const socket of held) socket.destroy();
      held = [];
      send({ type: 'released' });
      break;
  }
});
process.on('disconnect', () => process.exit(0));
setTimeout(() => process.exit(0), MAX_LIFETIME_MS).unref();
send({ type: 'ready' });
