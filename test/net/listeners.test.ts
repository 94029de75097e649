/**
 * ERR_LISTEN's remedy fits why the address could not be opened: not an address of this host, a port someone else
 * owns, or a privileged port.
 */
import net from 'node:net';
import t from 'tap';
import { silentLogger } from '../../src/log.js';
import { Listeners } from '../../src/net/listeners.js';

const ignore = (socket: net.Socket): void => {
  socket.destroy();
};

t.test('EADDRNOTAVAIL: not an address of this host', async (t) => {
  // 192.0.2.1 (TEST-NET-1, RFC 5737) is never configured on a host.
  const error = await Listeners.bind([{ host: '192.0.2.1', port: 0 }], ignore, silentLogger).then(
    () => undefined,
    (e: unknown) => e as { code: string; message: string; remedy: string },
  );
  t.match(error, { code: 'ERR_LISTEN', message: /192\.0\.2\.1:0: EADDRNOTAVAIL$/, remedy: /^192\.0\.2\.1 is not an address of this host/ });
  t.notMatch(error?.remedy, /ss -ltnp|CAP_NET_BIND_SERVICE/, 'no word about owners or privileges');
});

t.test('EADDRINUSE: who owns the port', async (t) => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => holder.close(resolve)));
  const { port } = holder.address() as net.AddressInfo;
  await t.rejects(Listeners.bind([{ host: '127.0.0.1', port }], ignore, silentLogger), {
    code: 'ERR_LISTEN',
    message: new RegExp(`127\\.0\\.0\\.1:${port}: EADDRINUSE$`),
    remedy: new RegExp(`^Another process owns port ${port}: \`ss -ltnp 'sport = :${port}'\` names it`),
  });
});

const notRoot = process.getuid?.() !== 0 ? {} : { skip: 'root may bind any port' };
t.test('EACCES: a privileged port', notRoot, async (t) => {
  await t.rejects(Listeners.bind([{ host: '127.0.0.1', port: 1 }], ignore, silentLogger), { code: 'ERR_LISTEN', remedy: /^Ports below 1024 need root or CAP_NET_BIND_SERVICE/ });
});
