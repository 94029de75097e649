import { createChallengeCertificate, type ChallengeCertificate } from '../challenge/certificate.js';
import { bytesEqual } from '../bytes.js';
import { AlpnResponderError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CertificateSink } from '../net/context-table.js';
import type { Challenge } from '../challenge/challenge.js';
import type { ChallengeStore } from './challenge-store.js';

interface Slot {
  readonly challenge: Challenge;
  /** The certificate for the challenge's digest: reused when the same digest is deployed again. */
  readonly certificate: Promise<ChallengeCertificate>;
  /** Resolves once the certificate is served; rejects when it could not be built or published. */
  readonly serving: Promise<void>;
}

/** Builds a certificate for a challenge; replaceable in tests. */
export type CertificateBuilder = (challenge: Challenge) => Promise<ChallengeCertificate>;

const defaultBuilder: CertificateBuilder = (challenge) =>
  createChallengeCertificate(challenge.identifier, challenge.digest);

/**
 * Follows a {@link ChallengeStore}: builds the certificate of every challenge put there, once, and hands it to a
 * {@link CertificateSink} (this process's TLS contexts, or every worker process); removes it again when the store
 * drops the challenge. Builds run concurrently, so a burst of deploys is not served one certificate at a time.
 */
export class CertificateCache {
  readonly #slots = new Map<string, Slot>();
  readonly #store: ChallengeStore;
  readonly #sink: CertificateSink;
  readonly #build: CertificateBuilder;
  readonly #log: Logger;
  readonly #onPut = (challenge: Challenge): void => this.#prepare(challenge);
  readonly #onDelete = (sni: string): void => {
    this.#slots.delete(sni);
    this.#sink.delete(sni);
  };

  constructor(store: ChallengeStore, sink: CertificateSink, log: Logger, build: CertificateBuilder = defaultBuilder) {
    this.#store = store;
    this.#sink = sink;
    this.#log = log;
    this.#build = build;
    store.on('put', this.#onPut);
    store.on('delete', this.#onDelete);
    for (const challenge of store.list()) this.#prepare(challenge);
  }

  /**
   * Resolves once the challenge stored for `sni` with this digest is served; rejects when its certificate could
   * not be built or served, or the challenge was removed or replaced meanwhile.
   */
  async whenReady(sni: string, digest: Uint8Array): Promise<void> {
    const slot = this.#slots.get(sni);
    if (!slot || !bytesEqual(slot.challenge.digest, digest)) {
      throw new AlpnResponderError('ERR_CERTIFICATE', `the challenge for ${sni} was replaced or removed while it was being prepared`);
    }
    return slot.serving;
  }

  /**
   * Resolves once every challenge the store held so far is served (or has failed to be, which is logged): at start,
   * so that nothing restored from `--state` or Redis is missing when the daemon says `ready`.
   */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#slots.values()].map((slot) => slot.serving));
  }

  /** Stops following the store; idempotent. */
  close(): void {
    this.#store.off('put', this.#onPut);
    this.#store.off('delete', this.#onDelete);
    this.#slots.clear();
  }

  #prepare(challenge: Challenge): void {
    const sni = challenge.identifier.sni;
    const current = (): boolean => this.#slots.get(sni)?.challenge === challenge;
    const previous = this.#slots.get(sni);
    // The same digest deployed again (a parallel identical deploy, or a new lifetime): the certificate already built
    // is served again under the new expiry, rather than replaced by a new one midway.
    const certificate =
      previous !== undefined && bytesEqual(previous.challenge.digest, challenge.digest)
        ? previous.certificate
        : this.#build(challenge).catch((error: unknown) => {
            this.#log.log('error', 'certificate-failed', { sni, error: String(error) });
            throw new AlpnResponderError('ERR_CERTIFICATE', `could not build the challenge certificate for ${sni}: ${String(error)}`, { cause: error });
          });
    const serving = certificate.then(async (built) => {
      // A challenge replaced or removed while its certificate was built must not overwrite what came after it.
      if (current()) await this.#sink.put(challenge, built);
    });
    // whenReady() callers see the failure; this keeps an unawaited build from crashing the process.
    certificate.catch(() => undefined);
    serving.catch(() => undefined);
    this.#slots.set(sni, { challenge, certificate, serving });
  }
}
