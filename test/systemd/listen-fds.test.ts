import t from 'tap';
import { openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { LISTEN_FDS_START, parseListenFds, sortPassedSockets, type PassedSocket } from '../../src/systemd/listen-fds.js';
import { openPassedSockets, takeListenFds } from '../../src/systemd/passed-sockets.js';
import type { Logger } from '../../src/log.js';
import { shortTempDir } from '../helpers/tmp.js';

const PID = 4242;

t.test('descriptors start at 3, named by LISTEN_FDNAMES', async (t) => {
  t.equal(LISTEN_FDS_START, 3);
  t.same(parseListenFds({ LISTEN_PID: '4242', LISTEN_FDS: '2', LISTEN_FDNAMES: 'tls:control' }, PID), [
    { fd: 3, name: 'tls' },
    { fd: 4, name: 'control' },
  ]);
  t.same(parseListenFds({ LISTEN_PID: '4242', LISTEN_FDS: '3' }, PID), [
    { fd: 3, name: undefined },
    { fd: 4, name: undefined },
    { fd: 5, name: undefined },
  ], 'without LISTEN_FDNAMES the descriptors are unnamed');
  t.same(parseListenFds({ LISTEN_PID: '4242', LISTEN_FDS: '1', LISTEN_FDNAMES: '' }, PID), [{ fd: 3, name: '' }]);
});

t.test('nothing passed: no LISTEN_PID, or one for another process', async (t) => {
  t.equal(parseListenFds({}, PID), undefined);
  t.equal(parseListenFds({ LISTEN_FDS: '2' }, PID), undefined, 'LISTEN_FDS alone means nothing (sd_listen_fds)');
  t.equal(parseListenFds({ LISTEN_PID: '4243', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b' }, PID), undefined, 'inherited from a parent');
  t.equal(parseListenFds({ LISTEN_PID: '4243', LISTEN_FDS: 'junk' }, PID), undefined, 'not ours, so not checked further');
});

t.test('malformed variables meant for this process are errors', async (t) => {
  const cases: Record<string, string | undefined>[] = [
    { LISTEN_PID: 'x', LISTEN_FDS: '1' },
    { LISTEN_PID: '-1', LISTEN_FDS: '1' },
    { LISTEN_PID: '', LISTEN_FDS: '1' },
    { LISTEN_PID: '4242' },
    { LISTEN_PID: '4242', LISTEN_FDS: '0' },
    { LISTEN_PID: '4242', LISTEN_FDS: '-2' },
    { LISTEN_PID: '4242', LISTEN_FDS: '2x' },
    { LISTEN_PID: '4242', LISTEN_FDS: '999999' },
    { LISTEN_PID: '4242', LISTEN_FDS: '2', LISTEN_FDNAMES: 'tls' },
    { LISTEN_PID: '4242', LISTEN_FDS: '1', LISTEN_FDNAMES: 'tls:control' },
  ];
  for (const env of cases) t.throws(() => parseListenFds(env, PID), { code: 'ERR_BAD_LISTEN_FDS' }, JSON.stringify(env));
  t.throws(() => parseListenFds({ LISTEN_PID: '4242', LISTEN_FDS: '2', LISTEN_FDNAMES: 'tls' }, PID), /LISTEN_FDNAMES names 1 descriptor\(s\), LISTEN_FDS passes 2/);
});

const socket = (fd: number, name: string | undefined, unix: boolean): PassedSocket => ({ fd, name, unix });

t.test('roles: "control" is the control socket, other names TLS, unnamed by kind', async (t) => {
  const named = sortPassedSockets([socket(3, 'tls', false), socket(4, 'control', true), socket(5, 'tls6', false)]);
  t.same(named.tls.map((s) => s.fd), [3, 5]);
  t.equal(named.control?.fd, 4);
  for (const unnamed of [undefined, '', 'alpn-responder.socket']) {
    const sorted = sortPassedSockets([socket(3, unnamed, true), socket(4, unnamed, false)]);
    t.same(sorted.tls.map((s) => s.fd), [4], `TCP is TLS (name ${JSON.stringify(unnamed)})`);
    t.equal(sorted.control?.fd, 3, `Unix is control (name ${JSON.stringify(unnamed)})`);
  }
  t.same(sortPassedSockets([socket(3, 'tls', false)]), { tls: [socket(3, 'tls', false)], control: undefined }, 'TLS only');
  t.same(sortPassedSockets([socket(3, 'control', true)]).tls, [], 'control only');
});

t.test('roles that cannot be right are refused', async (t) => {
  t.throws(() => sortPassedSockets([socket(3, 'control', false)]), { code: 'ERR_SYSTEMD_SOCKET', message: /fd 3 \("control"\) is a TCP socket/ });
  t.throws(() => sortPassedSockets([socket(3, 'tls', true)]), { code: 'ERR_SYSTEMD_SOCKET', message: /fd 3 \("tls"\) is a Unix socket/ });
  t.throws(() => sortPassedSockets([socket(3, undefined, true), socket(4, 'control', true)]), { code: 'ERR_SYSTEMD_SOCKET', message: /2 control sockets passed \(fds 3, 4\)/ });
});

t.test('takeListenFds unsets the variables whatever they held', async (t) => {
  const lines: string[] = [];
  const log: Logger = { log: (_level, event, fields) => lines.push(`${event} ${JSON.stringify(fields)}`) };
  const env: NodeJS.ProcessEnv = { LISTEN_PID: String(PID), LISTEN_FDS: '2', LISTEN_FDNAMES: 'tls:control', KEEP: 'me' };
  t.same(takeListenFds(env, PID, log), [{ fd: 3, name: 'tls' }, { fd: 4, name: 'control' }]);
  t.same(env, { KEEP: 'me' });
  t.match(lines[0], /^listen-fds .*"listen_fdnames":"tls:control".*"unset":\["LISTEN_PID","LISTEN_FDS","LISTEN_FDNAMES"\]/);

  const foreign: NodeJS.ProcessEnv = { LISTEN_PID: '1', LISTEN_FDS: '1' };
  t.same(takeListenFds(foreign, PID, log), [], 'for another process: nothing taken');
  t.same(foreign, {}, '…but still unset, so it does not travel further');

  const bad: NodeJS.ProcessEnv = { LISTEN_PID: String(PID), LISTEN_FDS: 'two' };
  t.throws(() => takeListenFds(bad, PID, log), { code: 'ERR_BAD_LISTEN_FDS' });
  t.same(bad, {}, 'unset on error too');

  const none: NodeJS.ProcessEnv = {};
  t.same(takeListenFds(none, PID, log), []);
  t.equal(lines.length, 3, 'nothing logged when nothing was passed');
});

t.test('a descriptor that is not a listening socket is refused', async (t) => {
  const file = path.join(shortTempDir(t), 'plain');
  const fd = openSync(file, 'w');
  t.teardown(() => closeSync(fd));
  t.throws(() => openPassedSockets([{ fd, name: 'tls' }]), { code: 'ERR_SYSTEMD_SOCKET', message: new RegExp(`fd ${fd} is not a listening stream socket`) });
});
