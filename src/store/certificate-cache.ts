import tls from 'node:tls';
import { createChallengeCertificate, type ChallengeCertificate } from '../challenge/certificate.js';
import { bytesEqual } from '../challenge/der.js';
import { AlpnResponderError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Challenge, ChallengeStore } from './challenge-store.js';

/** A challenge ready to be served: its certificate already inside a TLS context. */
export interface ReadyChallenge {
  readonly challenge: Challenge;
  readonly context: tls.SecureContext;
  /** Completed `acme-tls/1` handshakes for this challenge on this node. */
  served: number;
}

interface Slot {
  readonly challenge: Challenge;
  readonly building: Promise<ReadyChallenge>;
  ready: ReadyChallenge | undefined;
}

/** Builds a certificate for a challenge; replaceable in tests. */
export type CertificateBuilder = (challenge: Challenge) => Promise<ChallengeCertificate>;

const defaultBuilder: CertificateBuilder = (challenge) =>
  createChallengeCertificate(challenge.identifier, challenge.digest);

/**
 * Follows a {@link ChallengeStore} and keeps, for every live challenge, a prebuilt TLS context — so a handshake only
 * looks a context up, and a certificate is built once per deploy, never per connection.
 */
export class CertificateCache {
  readonly #slots = new Map<string, Slot>();
  readonly #store: ChallengeStore;
  readonly #build: CertificateBuilder;
  readonly #log: Logger;
  readonly #onPut = (challenge: Challenge): void => this.#prepare(challenge);
  readonly #onDelete = (sni: string): void => void this.#slots.delete(sni);

  constructor(store: ChallengeStore, log: Logger, build: CertificateBuilder = defaultBuilder) {
    this.#store = store;
    this.#log = log;
    this.#build = build;
    store.on('put', this.#onPut);
    store.on('delete', this.#onDelete);
    for (const challenge of store.list()) this.#prepare(challenge);
  }

  /**
   * Resolves once the challenge stored for `sni` with this digest can be served; rejects when its certificate
   * could not be built or the challenge was removed or replaced meanwhile.
   */
  async whenReady(sni: string, digest: Uint8Array): Promise<ReadyChallenge> {
    const slot = this.#slots.get(sni);
    if (!slot || !bytesEqual(slot.challenge.digest, digest)) {
      throw new AlpnResponderError('ERR_CERTIFICATE', `the challenge for ${sni} was replaced or removed while it was being prepared`);
    }
    return slot.building;
  }

  /** The servable challenge for an SNI value, or undefined (not deployed, expired, or still being built). */
  lookup(sni: string): ReadyChallenge | undefined {
    const slot = this.#slots.get(sni);
    if (!slot?.ready) return undefined;
    // The store is the authority on expiry: a context outliving its challenge is never served.
    if (this.#store.get(sni) !== slot.challenge) return undefined;
    return slot.ready;
  }

  /** Handshakes served for an SNI value on this node. */
  served(sni: string): number {
    return this.#slots.get(sni)?.ready?.served ?? 0;
  }

  /** Stops following the store; idempotent. */
  close(): void {
    this.#store.off('put', this.#onPut);
    this.#store.off('delete', this.#onDelete);
    this.#slots.clear();
  }

  #prepare(challenge: Challenge): void {
    const sni = challenge.identifier.sni;
    const building = this.#build(challenge).then(
      (certificate) => {
      const context = tls.createSecureContext({
        key: certificate.keyPem,
        cert: certificate.certPem,
        // RFC 8737 §4: "using TLS 1.2 or higher"; older versions are refused outright.
        minVersion: 'TLSv1.2',
      });
      const ready: ReadyChallenge = { challenge, context, served: 0 };
      const current = this.#slots.get(sni);
      if (current?.challenge === challenge) current.ready = ready;
      return ready;
      },
      (error: unknown) => {
        this.#log.log('error', 'certificate-failed', { sni, error: String(error) });
        throw new AlpnResponderError('ERR_CERTIFICATE', `could not build the challenge certificate for ${sni}: ${String(error)}`, { cause: error });
      },
    );
    // whenReady() callers see the failure; this keeps an unawaited build from crashing the process.
    building.catch(() => undefined);
    this.#slots.set(sni, { challenge, building, ready: undefined });
  }
}
