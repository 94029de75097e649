/**
 * Deploys and `--watch-dir` are two producers on one deploy path: both feed the same {@link CertificateSink}
 * (this process's contexts, or every worker), and a deploy for a name wins over its file.
 */
import type { ChallengeCertificate } from '../challenge/certificate.js';
import type { Challenge } from '../challenge/challenge.js';
import type { Logger } from '../log.js';
import type { CertificateSink } from '../net/context-table.js';

type Pem = Pick<ChallengeCertificate, 'certPem' | 'keyPem'>;

/**
 * Two sinks in front of one: {@link deploys} for the certificate cache, {@link files} for `--watch-dir`. A file's
 * pair is served while no deploy is for its name, and again once the deploy is cleaned or expires.
 */
export class DeployFirst {
  readonly #target: CertificateSink;
  readonly #log: Logger;
  /** Names a deploy is served for. */
  readonly #deployed = new Set<string>();
  /** Pairs from `--watch-dir`, by name, served or shadowed by a deploy. */
  readonly #files = new Map<string, { readonly challenge: Challenge; readonly certificate: Pem }>();

  constructor(target: CertificateSink, log: Logger) {
    this.#target = target;
    this.#log = log;
  }

  /** For deploys: always served. */
  readonly deploys: CertificateSink = {
    put: (challenge, certificate) => {
      this.#deployed.add(challenge.identifier.sni);
      return this.#target.put(challenge, certificate);
    },
    delete: (sni) => {
      this.#deployed.delete(sni);
      const file = this.#files.get(sni);
      if (file === undefined) {
        this.#target.delete(sni);
        return;
      }
      this.#target.put(file.challenge, file.certificate).catch((error: unknown) => this.#log.log('error', 'watch-error', { sni, error: String(error) }));
    },
  };

  /** For `--watch-dir`: served unless a deploy is. */
  readonly files: CertificateSink = {
    put: (challenge, certificate) => {
      const sni = challenge.identifier.sni;
      this.#files.set(sni, { challenge, certificate });
      return this.#deployed.has(sni) ? Promise.resolve() : this.#target.put(challenge, certificate);
    },
    delete: (sni) => {
      this.#files.delete(sni);
      if (!this.#deployed.has(sni)) this.#target.delete(sni);
    },
  };
}
