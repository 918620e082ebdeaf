/**
 * Puts a challenge answer where the CA's validation may land: this process's
 * registry (read by the http-01 listener and the tls-alpn-01 responder) and,
 * with worker processes, every worker (awaited, so the worker that takes the
 * validation connection can answer). The ACME issuer presents the challenges
 * of its own orders here; the maintainer's fleet mirror presents those another
 * instance published.
 */
import acme from 'acme-client';
import type { EdgeLogger } from '../logger.js';
import { reasonOf } from '../logger.js';
import type { SharedChallenge } from './acme-storage.js';
import { ChallengeRegistry, type ChallengeChange } from './challenge-registry.js';

export interface ChallengeAnswersOptions {
  /** worker processes: each change is sent there too, and awaited before the CA validates */
  publish?: (change: ChallengeChange) => Promise<void>;
  logger: EdgeLogger;
}

export class ChallengeAnswers {
  readonly registry = new ChallengeRegistry();
  private readonly publish: (change: ChallengeChange) => Promise<void>;
  private readonly logger: EdgeLogger;

  constructor(opts: ChallengeAnswersOptions) {
    this.publish = opts.publish ?? (async () => {});
    this.logger = opts.logger;
  }

  /** Answers `challenge` here and in the workers; resolves to its withdrawal (which does not wait for the workers). */
  async present(challenge: SharedChallenge): Promise<() => void> {
    const change = await changeFor(challenge);
    this.registry.apply(change);
    const withdrawal = withdrawalOf(challenge);
    const withdraw = () => {
      this.registry.apply(withdrawal);
      this.publish(withdrawal).catch((err: unknown) => this.logger.warn({ domain: challenge.domain, ...reasonOf(err) }, 'a worker did not take back an ACME challenge'));
    };
    try {
      await this.publish(change);
    } catch (err) {
      withdraw();
      throw err;
    }
    return withdraw;
  }

  /** A challenge answer another instance published (`undefined`: removed): answer it here too. Never throws. */
  async mirror(id: string, type: SharedChallenge['type'], challenge: SharedChallenge | undefined): Promise<void> {
    try {
      const change = challenge ? await changeFor(challenge) : type === 'http-01' ? { op: 'delete-http' as const, token: id } : { op: 'delete-tls-alpn' as const, domain: id };
      this.registry.apply(change);
      await this.publish(change);
    } catch (err) {
      this.logger.warn({ domain: challenge?.domain, challenge: type, ...reasonOf(err) }, 'cannot answer a challenge published by another instance');
    }
  }
}

/** The registry change that answers `c`: the key authorization for http-01, an RFC 8737 certificate for tls-alpn-01. */
async function changeFor(c: SharedChallenge): Promise<ChallengeChange> {
  if (c.type === 'http-01') return { op: 'set-http', token: c.id, keyAuthorization: c.keyAuthorization };
  const authz = { identifier: { type: 'dns', value: c.domain } } as acme.Authorization;
  const [key, cert] = await acme.crypto.createAlpnCertificate(authz, c.keyAuthorization, await acme.crypto.createPrivateEcdsaKey());
  return { op: 'set-tls-alpn', domain: c.domain, certPem: cert.toString(), keyPem: key.toString() };
}

function withdrawalOf(c: SharedChallenge): ChallengeChange {
  return c.type === 'http-01' ? { op: 'delete-http', token: c.id } : { op: 'delete-tls-alpn', domain: c.domain };
}
