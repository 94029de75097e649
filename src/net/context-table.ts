/**
 * The challenge certificates this process serves, each already inside a TLS context: a handshake only looks one up,
 * and a context is built once per deploy, never per connection.
 */
import { constants } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import type { ChallengeCertificate } from '../challenge/certificate.js';
import type { Challenge } from '../challenge/challenge.js';

/** A challenge ready to be served: its certificate already inside a TLS context. */
export interface ReadyChallenge {
  readonly challenge: Challenge;
  readonly context: tls.SecureContext;
  /** Completed `acme-tls/1` handshakes for this challenge in this process. */
  served: number;
}

/** Where built challenge certificates go to be served: this process's {@link ContextTable}, or every worker's. */
export interface CertificateSink {
  /** Serves `certificate` for `challenge` from now on, replacing what its SNI had; resolves once it is served. */
  put(challenge: Challenge, certificate: Pick<ChallengeCertificate, 'certPem' | 'keyPem'>): Promise<void>;
  /** Stops serving an SNI value. */
  delete(sni: string): void;
}

/** Builds the TLS context a challenge certificate is served with. */
export function challengeContext(certificate: Pick<ChallengeCertificate, 'certPem' | 'keyPem'>): tls.SecureContext {
  return tls.createSecureContext({
    key: certificate.keyPem,
    cert: certificate.certPem,
    // RFC 8737 §4: "using TLS 1.2 or higher"; older versions are refused outright.
    minVersion: 'TLSv1.2',
    // A validation never resumes a session (RFC 8737 §3: the client closes right after the handshake): issuing a
    // ticket per handshake is wasted work.
    secureOptions: constants.SSL_OP_NO_TICKET,
  });
}

interface Entry {
  readonly ready: ReadyChallenge;
  /** The certificate inside the context, to tell whether a later put brings the same one. */
  readonly certPem: string;
  /** performance.now() past which it is not served: a wall-clock step after the put cannot shorten or stretch it. */
  readonly deadline: number;
}

/** TLS contexts by SNI value. */
export class ContextTable implements CertificateSink {
  readonly #entries = new Map<string, Entry>();
  /**
   * The entry each SNI value served before its current one. Put back (same certificate), it is served again as it
   * was — its context and its count of handshakes — such as a `--watch-dir` pair once the deploy that shadowed it
   * is cleaned.
   */
  readonly #previous = new Map<string, Entry>();

  put(challenge: Challenge, certificate: Pick<ChallengeCertificate, 'certPem' | 'keyPem'>): Promise<void> {
    try {
      const sni = challenge.identifier.sni;
      const current = this.#entries.get(sni);
      const previous = this.#previous.get(sni);
      const back = previous?.certPem === certificate.certPem && current?.certPem !== certificate.certPem ? previous : undefined;
      const ready = { challenge, context: back?.ready.context ?? challengeContext(certificate), served: back?.ready.served ?? 0 };
      if (current !== undefined && current.certPem !== certificate.certPem) this.#previous.set(sni, current);
      this.#entries.set(sni, { ready, certPem: certificate.certPem, deadline: performance.now() + (challenge.expiresAt.getTime() - Date.now()) });
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  delete(sni: string): void {
    this.#entries.delete(sni);
    this.#previous.delete(sni);
  }

  /** The servable challenge for an SNI value; never one past its expiry, even before the store's sweep drops it. */
  lookup(sni: string): ReadyChallenge | undefined {
    const entry = this.#entries.get(sni);
    return entry !== undefined && entry.deadline > performance.now() ? entry.ready : undefined;
  }

  /** Handshakes served per SNI value, for those served at least once. */
  servedBySni(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [sni, { ready }] of this.#entries) if (ready.served > 0) counts.set(sni, ready.served);
    return counts;
  }

  /** Forgets everything. */
  clear(): void {
    this.#entries.clear();
    this.#previous.clear();
  }
}
