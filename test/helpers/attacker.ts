/**
 * A hostile client for test/attacks.test.ts, run as its own process so that its load does not slow the test's
 * CA-style probes: `node --import @tapjs/typescript/import test/helpers/attacker.ts '<json AttackPlan>'`.
 * It prints `ready` once its connections are open (or at once for a flood) and attacks until the test sends it
 * SIGUSR2 (the test decides when it has seen enough), then closes every socket and prints one JSON line of
 * {@link AttackReport}, then exits.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

/** What to do to the daemon. */
export interface AttackPlan {
  readonly mode: 'idle' | 'slow' | 'flood' | 'churn';
  readonly host: string;
  readonly port: number;
  /** idle/slow: connections to hold (reopened when the daemon closes one); flood/churn: connections in flight. */
  readonly connections: number;
  /**
   * idle/slow: open the connections evenly spread over this many milliseconds rather than all at once, as a large
   * botnet's arrive; `ready` waits for the last of them.
   */
  readonly rampMs?: number;
  /** slow: milliseconds between bytes of the ClientHello, each connection sending one byte per interval. */
  readonly intervalMs?: number;
  /**
   * slow: file with the ClientHello to trickle (it never completes within the attack); churn: the captured hello
   * replayed on every connection.
   */
  readonly helloFile?: string;
  /** flood: the ALPN list and SNI offered. */
  readonly alpn?: readonly string[];
  readonly servername?: string;
}

/** What the attack achieved. */
export interface AttackReport {
  /** Connections opened. */
  readonly opened: number;
  /** Connections the daemon closed (idle/slow) or handshakes that failed (flood). */
  readonly closedByPeer: number;
  /** flood: handshakes completed; churn: connections the daemon answered (a ServerHello, or an alert). */
  readonly handshakes: number;
  /** Connect errors (EMFILE, ECONNREFUSED, …) by code. */
  readonly errors: Readonly<Record<string, number>>;
}

const plan = JSON.parse(process.argv[2] ?? '{}') as AttackPlan;
const sockets = new Set<net.Socket>();
const errors: Record<string, number> = {};
let opened = 0;
let connected = 0;
let closedByPeer = 0;
let handshakes = 0;
let stopping = false;
const hello = plan.helloFile === undefined ? Buffer.alloc(0) : readFileSync(plan.helloFile);

function countError(error: NodeJS.ErrnoException): void {
  errors[error.code ?? error.message] = (errors[error.code ?? error.message] ?? 0) + 1;
}

/** idle/slow: one connection, replaced by a fresh one when the daemon closes it. */
function hold(): void {
  if (stopping) return;
  const socket = net.connect({ host: plan.host, port: plan.port });
  opened++;
  sockets.add(socket);
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  socket.on('error', countError);
  socket.on('data', () => undefined);
  socket.once('connect', () => {
    connected++;
    if (plan.mode !== 'slow') return;
    // Never the last byte: the hello must stay incomplete, whatever the interval.
    timer = setInterval(() => {
      if (sent < hello.length - 1 && socket.writable) socket.write(hello.subarray(sent, ++sent));
    }, plan.intervalMs ?? 100);
  });
  socket.once('close', () => {
    clearInterval(timer);
    sockets.delete(socket);
    if (stopping) return;
    closedByPeer++;
    setImmediate(hold);
  });
}

/** flood: handshakes back to back, `connections` in flight. */
function flood(): void {
  if (stopping) return;
  const socket = tls.connect({
    host: plan.host,
    port: plan.port,
    servername: plan.servername,
    ALPNProtocols: plan.alpn === undefined ? undefined : [...plan.alpn],
    rejectUnauthorized: false,
  });
  opened++;
  sockets.add(socket);
  let ok = false;
  socket.once('secureConnect', () => {
    ok = true;
    handshakes++;
    socket.end();
  });
  socket.on('error', countError);
  socket.once('close', () => {
    sockets.delete(socket);
    if (!ok && !stopping) closedByPeer++;
    setImmediate(flood);
  });
}

/**
 * churn: replays a captured ClientHello and hangs up as soon as the daemon answers (by then it has done the key
 * exchange and signed, or refused), `connections` in flight: the most key exchanges one source can demand.
 */
function churn(): void {
  if (stopping) return;
  const socket = net.connect({ host: plan.host, port: plan.port, noDelay: true });
  opened++;
  sockets.add(socket);
  let answered = false;
  socket.on('error', countError);
  socket.once('connect', () => socket.write(hello));
  socket.once('data', () => {
    answered = true;
    handshakes++;
    socket.destroy();
  });
  socket.once('close', () => {
    sockets.delete(socket);
    if (!answered && !stopping) closedByPeer++;
    setImmediate(churn);
  });
}

let readyTimer: NodeJS.Timeout | undefined;
if (plan.mode === 'flood' || plan.mode === 'churn') {
  for (let i = 0; i < plan.connections; i++) (plan.mode === 'flood' ? flood : churn)();
  process.stdout.write('ready\n');
} else {
  const rampMs = plan.rampMs ?? 0;
  let ramped = rampMs === 0;
  for (let i = 0; i < plan.connections; i++) {
    if (ramped) hold();
    else setTimeout(hold, (i * rampMs) / plan.connections);
  }
  if (!ramped) setTimeout(() => (ramped = true), rampMs);
  // Ready once as many connections as asked for have connected (the daemon may be evicting some already).
  readyTimer = setInterval(() => {
    if (ramped && connected >= plan.connections) {
      clearInterval(readyTimer);
      process.stdout.write('ready\n');
    }
  }, 10);
}

// Ten minutes is only a hang guard, should the test never say stop (it stops this process group on teardown too).
const hangGuard = setTimeout(stop, 600_000);
process.once('SIGUSR2', stop);

function stop(): void {
  clearTimeout(hangGuard);
  stopping = true;
  clearInterval(readyTimer);
  for (const socket of sockets) socket.destroy();
  const report: AttackReport = { opened, closedByPeer, handshakes, errors };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
