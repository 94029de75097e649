/**
 * The systeminformation adapter on this host: real listeners seen with pid and name, through whichever tool is on
 * PATH, through ss alone, and with no tool at all (an empty list that must not pass for "nothing listens").
 */
import { readFileSync } from 'node:fs';
import { symlink } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import si from 'systeminformation';
import t, { type Test } from 'tap';
import { readSocketTable, type SocketTable } from '../../src/diagnostics/socket-table.js';
import { requirePeers, which } from '../helpers/daemon.js';
import { shortTempDir } from '../helpers/tmp.js';

/**
 * This process's name: `node`, or from Node 24 on `MainThread` (it names its main thread, which is what ss shows;
 * netstat shows `node`). Both count as this process's name.
 */
const OWN_NAME = readFileSync('/proc/self/comm', 'utf8').trim();
const ownName = <T extends { process?: string | undefined }>(sockets: readonly T[]): T[] =>
  sockets.map((s) => (s.process === OWN_NAME || s.process === 'node' ? { ...s, process: 'node' } : s));

async function listen(t: Test, host: string, ipv6Only = false): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host, port: 0, ipv6Only }, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

/** Runs `read` with PATH set to `dir` only: systeminformation finds its tools through the shell's PATH. */
async function withPath(dir: string, read: () => Promise<SocketTable>): Promise<SocketTable> {
  const saved = process.env.PATH;
  process.env.PATH = dir;
  try {
    return await read();
  } finally {
    process.env.PATH = saved;
  }
}

t.test('a listener of this process, with its pid and name', async (t) => {
  const port = await listen(t, '127.0.0.1');
  const table = await readSocketTable(10_000);
  t.not(table.visibility.tool, 'none', 'ss or netstat is installed (iproute2 in .ci/run)');
  t.equal(table.visibility.root, process.getuid?.() === 0);
  t.same(
    ownName(table.sockets.filter((s) => s.port === port)),
    [{ address: '127.0.0.1', port, family: 'IPv4', pid: process.pid, process: 'node' }],
  );
});

t.test('through ss alone: dual-stack and IPv6-only wildcards told apart', requirePeers(t, ['ss', 'grep']), async (t) => {
  const dir = shortTempDir(t);
  for (const tool of ['ss', 'grep']) await symlink(which(tool) as string, path.join(dir, tool));
  const dual = await listen(t, '::');
  const v6only = await listen(t, '::', true);
  const table = await withPath(dir, () => readSocketTable(10_000));
  t.equal(table.visibility.tool, 'ss');
  t.same(ownName(table.sockets.filter((s) => s.port === dual)), [{ address: '::', port: dual, family: 'IPv6', dualStack: true, pid: process.pid, process: 'node' }]);
  t.same(ownName(table.sockets.filter((s) => s.port === v6only)), [{ address: '::', port: v6only, family: 'IPv6', dualStack: false, pid: process.pid, process: 'node' }]);
});

t.test('neither ss nor netstat: the tool is "none", not an empty host', async (t) => {
  await listen(t, '127.0.0.1');
  const empty = shortTempDir(t);
  const saved = process.env.PATH;
  process.env.PATH = empty;
  const rows = await si.networkConnections().finally(() => (process.env.PATH = saved));
  t.same(rows, [], 'systeminformation itself says nothing: an empty list, as if no socket existed');
  const table = await withPath(empty, () => readSocketTable(10_000));
  t.same(table.sockets, []);
  t.equal(table.visibility.tool, 'none');
});
