/**
 * What the maintainer needs of whoever signs its certificates (certmagic's
 * `Issuer`): given a domain and the key the maintainer made for it, a
 * certificate chain, or a typed error. The ACME issuer (acme-issuer.ts) is one;
 * anything that can sign a certificate for a name could be another, and the
 * maintainer (renewal loop, storage, fleet mirror) would not change.
 */
import type { CountersignError } from '../../errors.js';
import type { SharedChallenge } from './acme-storage.js';

export interface IssueRequest {
  /** the DNS name the certificate is for */
  domain: string;
  /** PEM (PKCS#8) private key of the certificate; made and stored by the maintainer */
  keyPem: string;
  /** a renewal of a certificate already served (for the CA's logs and ours) */
  renewal: boolean;
  /** aborted when the maintainer stops or loses the order lock: give up at once */
  signal: AbortSignal;
  /**
   * Publishes a challenge answer to the other instances of a fleet for as
   * long as the order runs (the CA's validation may reach any of them);
   * resolves to its removal. A no-op for storage no one else reads.
   */
  shareChallenge(challenge: SharedChallenge): Promise<() => Promise<void>>;
  /** told once the CA has accepted the order (its URL), for the `order` event */
  onOrder(orderUrl: string): void;
}

export interface CertificateIssuer {
  /** where certificates come from, for status and logs (the ACME directory URL) */
  readonly location: string;
  /** the PEM chain, leaf first; throws (a CountersignError, or anything `explain` makes sense of) */
  issue(request: IssueRequest): Promise<string>;
  /** the cause worth reporting for an error `issue` threw */
  explain(err: unknown, domain: string): CountersignError;
  /** releases what the issuer holds (connections); in-flight `issue` calls are aborted by their signal */
  close(): Promise<void>;
}
