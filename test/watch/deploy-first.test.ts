import t from 'tap';
import type { Challenge } from '../../src/challenge/challenge.js';
import { parseIdentifier } from '../../src/challenge/identifier.js';
import type { Logger } from '../../src/log.js';
import type { CertificateSink } from '../../src/net/context-table.js';
import { DeployFirst } from '../../src/watch/deploy-first.js';

/** A sink that remembers what it serves, by name: the certificate text put last. */
function recordingSink(): CertificateSink & { served: Map<string, string>; calls: string[] } {
  const served = new Map<string, string>();
  const calls: string[] = [];
  return {
    served,
    calls,
    put(challenge, certificate) {
      calls.push(`put ${challenge.identifier.sni} ${certificate.certPem}`);
      served.set(challenge.identifier.sni, certificate.certPem);
      return Promise.resolve();
    },
    delete(sni) {
      calls.push(`delete ${sni}`);
      served.delete(sni);
    },
  };
}

const silent: Logger = { log: () => undefined };
const challenge = (name: string, fill: number): Challenge => ({
  identifier: parseIdentifier(name),
  digest: new Uint8Array(32).fill(fill),
  expiresAt: new Date(Date.now() + 60_000),
});
const pem = (text: string) => ({ certPem: text, keyPem: 'key' });

t.test('a file is served until a deploy for its name, and again once the deploy is gone', async (t) => {
  const target = recordingSink();
  const sinks = new DeployFirst(target, silent);
  await sinks.files.put(challenge('a.example.test', 1), pem('file'));
  t.equal(target.served.get('a.example.test'), 'file');
  await sinks.deploys.put(challenge('a.example.test', 2), pem('deploy'));
  t.equal(target.served.get('a.example.test'), 'deploy', 'the deploy wins');
  await sinks.files.put(challenge('a.example.test', 3), pem('file rewritten'));
  t.equal(target.served.get('a.example.test'), 'deploy', 'a changed file does not displace the deploy');
  sinks.deploys.delete('a.example.test');
  t.equal(target.served.get('a.example.test'), 'file rewritten', 'the file, as it is now, is served again');
  sinks.files.delete('a.example.test');
  t.equal(target.served.has('a.example.test'), false, 'gone with its file');
});

t.test('a file removed while a deploy is served leaves the deploy alone', async (t) => {
  const target = recordingSink();
  const sinks = new DeployFirst(target, silent);
  await sinks.files.put(challenge('a.example.test', 1), pem('file'));
  await sinks.deploys.put(challenge('a.example.test', 2), pem('deploy'));
  sinks.files.delete('a.example.test');
  t.equal(target.served.get('a.example.test'), 'deploy');
  sinks.deploys.delete('a.example.test');
  t.equal(target.served.has('a.example.test'), false, 'nothing left to serve');
  t.same(target.calls.at(-1), 'delete a.example.test');
});
