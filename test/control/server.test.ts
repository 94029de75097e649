import t, { type Test } from 'tap';
import { statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sendCommands } from '../../src/control/client.js';
import { ControlServer, type LineHandler } from '../../src/control/server.js';
import { silentLogger } from '../../src/log.js';
import { shortTempDir } from '../helpers/tmp.js';

const echo: LineHandler = async (line) => (line === 'list' ? ['row one', 'row two', 'OK 2'] : [`OK ${line}`]);

async function start(t: Test, options: Partial<Parameters<typeof ControlServer.listen>[0]> = {}) {
  const dir = shortTempDir(t);
  const server = await ControlServer.listen({
    path: path.join(dir, 'sub', 'control.sock'),
    mode: 0o660,
    gid: undefined,
    handler: echo,
    log: silentLogger,
    ...options,
  });
  t.teardown(() => server.close());
  return server;
}

/** Sends raw bytes, half-closes, and collects everything until the server closes. */
function raw(socketPath: string, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath, () => socket.end(bytes));
    let text = '';
    socket.on('data', (d) => (text += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
  });
}

t.test('answers many commands per connection, in order, with data lines', async (t) => {
  const server = await start(t);
  const replies = await sendCommands(server.path, ['status', 'list', 'clean x']);
  t.same(replies.map((r) => r.final), [
    { ok: true, text: 'status' },
    { ok: true, text: '2' },
    { ok: true, text: 'clean x' },
  ]);
  t.same(replies[1]?.lines, ['row one', 'row two']);
});

t.test('creates the directory and applies the mode', async (t) => {
  const server = await start(t, { mode: 0o600 });
  t.equal(statSync(server.path).mode & 0o777, 0o600);
});

t.test('applies the group', { skip: process.getuid?.() !== 0 ? 'chown to another group needs root' : false }, async (t) => {
  const server = await start(t, { gid: 4242 });
  t.equal(statSync(server.path).gid, 4242);
  t.equal(statSync(server.path).mode & 0o777, 0o660);
});

t.test('a half-closed client still gets its replies, including an unterminated last line', async (t) => {
  const server = await start(t);
  t.equal(await raw(server.path, 'help\nstatus'), 'OK help\nOK status\n');
});

t.test('an overlong line gets ERR line-too-long and a close; others are unaffected', async (t) => {
  const server = await start(t);
  const socket = net.connect(server.path);
  let text = '';
  socket.on('data', (d) => (text += d.toString()));
  socket.write('status\n' + 'x'.repeat(10_000));
  await new Promise((resolve) => socket.on('close', resolve));
  t.match(text, /^OK status\nERR line-too-long /);
  const [reply] = await sendCommands(server.path, ['status']);
  t.same(reply?.final, { ok: true, text: 'status' });
});

t.test('--max-control-line sets the cap; hitting it is logged once a second', async (t) => {
  const events: string[] = [];
  const log = { log: (_level: string, event: string, fields?: Record<string, unknown>) => void (event === 'control-limit' && events.push(`${String(fields?.limit)} ${String(fields?.action)} ${String(fields?.max)}`)) };
  const server = await start(t, { maxLineBytes: 100, log });
  t.equal(await raw(server.path, `deploy ${'x'.repeat(90)}\n`), 'OK deploy ' + 'x'.repeat(90) + '\n', 'a line under the cap is answered');
  for (let i = 0; i < 3; i++) t.match(await raw(server.path, 'y'.repeat(101)), /^ERR line-too-long a line is longer than 100 bytes; closing\n$/);
  t.same(events, ['max-control-line closed 100'], 'three hits within a second: one line, the rest counted');
});

t.test('a stale socket file is replaced; a live daemon is detected', async (t) => {
  const dir = shortTempDir(t);
  const socketPath = path.join(dir, 'c.sock');
  const stale = net.createServer().listen(socketPath);
  await new Promise((resolve) => stale.on('listening', resolve));
  // Simulate a crash: the file stays, nobody listens.
  (stale as unknown as { _handle: { close(): void } })._handle.close();
  const server = await ControlServer.listen({ path: socketPath, mode: 0o660, gid: undefined, handler: echo, log: silentLogger });
  t.teardown(() => server.close());
  t.same((await sendCommands(socketPath, ['x']))[0]?.final, { ok: true, text: 'x' });
  await t.rejects(
    ControlServer.listen({ path: socketPath, mode: 0o660, gid: undefined, handler: echo, log: silentLogger }),
    { code: 'ERR_CONTROL_IN_USE' },
  );
});

t.test('a path that is not a socket is refused', async (t) => {
  const dir = shortTempDir(t);
  writeFileSync(path.join(dir, 'file.sock'), 'data');
  await t.rejects(
    ControlServer.listen({ path: path.join(dir, 'file.sock'), mode: 0o660, gid: undefined, handler: echo, log: silentLogger }),
    { code: 'ERR_CONTROL_NOT_SOCKET' },
  );
});

t.test('idle clients are dropped by the idle timer: activity restarts it, silence ends the connection', async (t) => {
  const idleTimeoutMs = 500;
  const server = await start(t, { idleTimeoutMs });
  const socket = net.connect(server.path);
  t.teardown(() => socket.destroy());
  let received = '';
  let endedByServer = false;
  socket.on('data', (chunk) => (received += chunk.toString()));
  socket.on('end', () => (endedByServer = true));
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now())));
  await new Promise((resolve) => socket.once('connect', resolve));
  // Commands back to back for twice the limit: each one restarts the timer, so the connection stays open.
  const busyFrom = performance.now();
  let answered = 0;
  let lastSent = 0;
  while (performance.now() - busyFrom < 2 * idleTimeoutMs) {
    lastSent = performance.now();
    socket.write(`ping ${answered}\n`);
    const expected = `OK ping ${answered}\n`;
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (received.endsWith(expected)) resolve();
        else if (socket.destroyed) reject(new Error(`closed while busy, after ${answered} answers`));
        else socket.once('data', check);
      };
      check();
    });
    answered++;
  }
  t.ok(answered > 1, `still open after ${answered} commands over ${(performance.now() - busyFrom).toFixed(0)} ms, twice the idle limit`);
  // Then silence: the server closes it, and not before the limit has passed since its last activity (reading the
  // last command and answering it, both after this client sent it).
  const closedAt = await closed;
  t.ok(closedAt - lastSent >= idleTimeoutMs - 1, `closed ${(closedAt - lastSent).toFixed(0)} ms after the last command was sent, not before ${idleTimeoutMs} ms`);
  t.ok(endedByServer, 'the server ended it; this client never did');
  t.notOk(received.includes('ERR'), 'no error reply: it was the idle timer, not a refusal');
});

t.test('a socket path longer than the kernel allows is refused clearly', async (t) => {
  const dir = shortTempDir(t);
  await t.rejects(
    ControlServer.listen({ path: path.join(dir, 'x'.repeat(120)), mode: 0o660, gid: undefined, handler: echo, log: silentLogger }),
    { code: 'ERR_CONTROL_PATH_TOO_LONG' },
  );
});

t.test('close is idempotent and removes the socket file', async (t) => {
  const server = await start(t);
  const open = net.connect(server.path);
  open.on('error', () => undefined);
  await new Promise((resolve) => open.on('connect', resolve));
  await Promise.all([server.close(), server.close()]);
  t.throws(() => statSync(server.path), { code: 'ENOENT' });
});

t.test('client errors', async (t) => {
  const dir = shortTempDir(t);
  await t.rejects(sendCommands(path.join(dir, 'none.sock'), ['status']), { code: 'ERR_CONTROL_UNREACHABLE' });
  const silent = net.createServer({ allowHalfOpen: true }, () => undefined).listen(path.join(dir, 'silent.sock'));
  t.teardown(() => silent.close());
  await new Promise((resolve) => silent.on('listening', resolve));
  await t.rejects(sendCommands(path.join(dir, 'silent.sock'), ['status'], 50), { code: 'ERR_CONTROL_TIMEOUT' });
  const closer = net.createServer((s) => s.end('garbage\n')).listen(path.join(dir, 'closer.sock'));
  t.teardown(() => closer.close());
  await new Promise((resolve) => closer.on('listening', resolve));
  await t.rejects(sendCommands(path.join(dir, 'closer.sock'), ['status']), { code: 'ERR_CONTROL_PROTOCOL' });
  const flood = net.createServer((s) => s.end('x'.repeat(70_000))).listen(path.join(dir, 'flood.sock'));
  t.teardown(() => flood.close());
  await new Promise((resolve) => flood.on('listening', resolve));
  await t.rejects(sendCommands(path.join(dir, 'flood.sock'), ['status']), { code: 'ERR_CONTROL_PROTOCOL' });
});

t.test('delays commands over --control-rate, answering every one in order, and logs it once a second', async (t) => {
  const events: string[] = [];
  const server = await start(t, { commandsPerSecond: 50, log: { log: (_level, event, fields) => event === 'control-limit' && events.push(`${event} ${String(fields?.action)}`) } });
  const lines = Array.from({ length: 70 }, (_, i) => `c${i}`);
  const started = performance.now();
  const text = await raw(server.path, lines.map((line) => `${line}\n`).join(''));
  const elapsed = performance.now() - started;
  t.same(text.trimEnd().split('\n'), lines.map((line) => `OK ${line}`), 'all answered, in order (past 64 pending lines too)');
  // 50 in the burst, then 20 at 50/s: at least 400 ms.
  t.ok(elapsed >= 350, `took ${elapsed.toFixed(0)} ms`);
  t.same(events, ['control-limit delayed'], 'one line for the whole burst');
});

t.test('closes control clients over --max-control-connections', async (t) => {
  const events: string[] = [];
  const server = await start(t, { maxConnections: 2, log: { log: (_level, event, fields) => event === 'control-limit' && events.push(`${event} ${String(fields?.limit)}`) } });
  const held = await Promise.all(
    [0, 1].map(
      () =>
        new Promise<net.Socket>((resolve) => {
          const socket = net.connect(server.path, () => resolve(socket));
        }),
    ),
  );
  t.teardown(() => held.forEach((socket) => socket.destroy()));
  // Both held connections answer, so the server has accepted them before the third arrives.
  for (const socket of held) {
    socket.write('status\n');
    await new Promise((resolve) => socket.once('data', resolve));
  }
  const third = await new Promise<string>((resolve) => {
    const socket = net.connect(server.path, () => socket.write('status\n'));
    let text = '';
    socket.on('data', (d) => (text += d.toString()));
    socket.on('error', () => undefined); // EPIPE / ECONNRESET: closed under it, as expected.
    socket.on('close', () => resolve(text));
  });
  t.equal(third, '', 'the third is closed without an answer');
  t.same(events, ['control-limit max-control-connections']);
});

t.test('counts pending lines, not reads: a client that floods and goes away gets at most 64 lines run', async (t) => {
  // Issue 12 item 4: thousands of lines arrive in a few reads; before the fix every line of a read was queued and
  // run even after the client had gone (772 of 4,248 in the review).
  let started = 0;
  let firstStarted!: () => void;
  const first = new Promise<void>((resolve) => (firstStarted = resolve));
  let clientGone!: () => void;
  const gone = new Promise<void>((resolve) => (clientGone = resolve));
  let dropped!: (count: number) => void;
  const droppedLogged = new Promise<number>((resolve) => (dropped = resolve));
  const drops: number[] = [];
  let tooMany!: () => void;
  const ranTooMany = new Promise<void>((resolve) => (tooMany = resolve));
  const server = await start(t, {
    commandsPerSecond: 1_000_000,
    handler: async (line) => {
      started++;
      if (started > 64 + 1) tooMany();
      if (started === 1) {
        firstStarted();
        // The first command is still running when the client disconnects.
        await gone;
      }
      return [`OK ${line}`];
    },
    log: {
      log: (_level, event, fields) => {
        if (event !== 'control-dropped') return;
        drops.push(Number(fields?.lines));
        dropped(Number(fields?.lines));
      },
    },
  });
  const lines = Array.from({ length: 4248 }, (_, i) => `deploy n${i}.example ${'A'.repeat(43)}\n`).join('');
  const socket = net.connect(server.path, () => socket.write(lines));
  socket.on('error', () => undefined);
  socket.on('close', () => clientGone());
  await first;
  socket.destroy();
  // Either the server drops the rest (and says so), or it runs more than it may: whichever comes first.
  const count = await Promise.race([droppedLogged, ranTooMany.then(() => 0)]);
  t.ok(count > 0, `the lines not started were dropped (${count})`);
  t.ok(started <= 64 + 1, `${started} lines were run: at most the 64 pending plus the one in flight`);
  t.same(drops, [count], 'logged once, with the count');
});

t.test('a client that reads its replies gets thousands of lines answered, in order', async (t) => {
  const server = await start(t, { commandsPerSecond: 1_000_000 });
  const lines = Array.from({ length: 3000 }, (_, i) => `line-${i}`);
  const text = await raw(server.path, lines.map((line) => `${line}\n`).join(''));
  t.same(text.trimEnd().split('\n'), lines.map((line) => `OK ${line}`));
});

for (const { name, owner, dirMode } of [
  { name: 'a --user account (owning the directory)', owner: true, dirMode: 0o755 },
  { name: '--control-group alone, a member of that group (group-writable directory)', owner: false, dirMode: 0o775 },
]) t.test(`${name} swapping the socket for a link between bind and chown gets nothing chowned or chmodded`, { skip: process.getuid?.() !== 0 ? 'needs root (CI runs as root) to race as another account' : false }, async (t) => {
  const { execFileSync, spawn } = await import('node:child_process');
  const { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync } = await import('node:fs');
  const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('getent', ['group', 'nogroup'], { encoding: 'utf8' }).split(':')[2]);
  const dir = shortTempDir(t);
  // nobody must reach the control directory through it.
  chmodSync(dir, 0o755);
  const victim = path.join(dir, 'victim');
  writeFileSync(victim, 'root:secret\n', { mode: 0o600 });
  const before = { ...lstatSync(victim) };
  // The directory an earlier start handed to the --user account (or a group-writable one): that account may
  // replace entries in it.
  const runDir = path.join(dir, 'run');
  mkdirSync(runDir);
  chownSync(runDir, owner ? uid : 0, gid);
  chmodSync(runDir, dirMode);
  const socketPath = path.join(runDir, 'c.sock');
  // The attacker, as nobody: replaces the freshly bound socket with a link to the victim.
  const swap = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', `const fs = require('node:fs'); fs.unlinkSync(process.argv[1]); fs.symlinkSync(process.argv[2], process.argv[1]);`, socketPath, victim], { uid, gid, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`swap as nobody failed (${code}): ${stderr}`))));
    });
  await t.rejects(
    ControlServer.listen({ path: socketPath, mode: 0o660, gid, uid: owner ? uid : undefined, handler: echo, log: silentLogger, afterBind: swap }),
    { code: 'ERR_CONTROL_SOCKET_REPLACED' },
    'start-up refuses a control path that is no longer its socket',
  );
  t.equal(readFileSync(victim, 'utf8'), 'root:secret\n', 'victim content unchanged');
  const after = lstatSync(victim);
  t.same({ uid: after.uid, gid: after.gid, mode: after.mode }, { uid: before.uid, gid: before.gid, mode: before.mode }, 'victim owner and mode unchanged');
});

t.test('a control directory others may write is logged at start', async (t) => {
  const { chmodSync, mkdirSync } = await import('node:fs');
  const dir = shortTempDir(t);
  const events: string[] = [];
  const log = { log: (_level: string, event: string, fields?: Record<string, unknown>) => void events.push(`${event} ${String(fields?.mode)}`) };
  const open = path.join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const loose = await ControlServer.listen({ path: path.join(open, 'c.sock'), mode: 0o660, gid: undefined, handler: echo, log });
  t.teardown(() => loose.close());
  t.ok(events.includes('control-dir-unsafe 777'), 'world-writable, no sticky bit: warned');
  events.length = 0;
  const sticky = path.join(dir, 'sticky');
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777);
  const shared = await ControlServer.listen({ path: path.join(sticky, 'c.sock'), mode: 0o660, gid: undefined, handler: echo, log });
  t.teardown(() => shared.close());
  t.notOk(events.some((e) => e.startsWith('control-dir-unsafe')), 'sticky (like /tmp): others cannot replace the socket, no warning');
  t.ok(events.some((e) => e.startsWith('control-listening')));
});
