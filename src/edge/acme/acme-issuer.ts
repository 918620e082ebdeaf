/**
 * The ACME issuer (RFC 8555, through acme-client): account, order, challenge,
 * finalize, download. One call of `issue` is one order for one domain; when to
 * call it, where the result goes and what happens after a failure is the
 * maintainer's business (certificate-maintainer.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import acme from 'acme-client';
import { CountersignError } from '../../errors.js';
import type { AcmeTiming } from '../../config/index.js';
import { withAcmeScope, createAcmeAgent, type AcmeAgent } from './acme-http.js';
import type { AcmeStorage } from './acme-storage.js';
import type { CertificateIssuer, IssueRequest } from './certificate-issuer.js';
import type { ChallengeAnswers } from './challenge-answers.js';

export type AcmeChallengeType = 'http-01' | 'tls-alpn-01';

export interface AcmeIssuerOptions {
  /** the resolved directory URL (https) */
  directoryUrl: string;
  /** PEM CA certificate(s) to trust for the ACME server's own HTTPS; default Node's bundled roots */
  ca?: string | Buffer | (string | Buffer)[];
  /** contact address for the account */
  email?: string;
  /** external account binding */
  eab?: { kid: string; hmacKey: string };
  challenge: AcmeChallengeType;
  /** where the account key lives (first writer wins: instances sharing a storage share one account) */
  accounts: Pick<AcmeStorage, 'readAccountKey' | 'createAccountKey' | 'writeAccountInfo'>;
  /** where challenge answers are put while the CA validates */
  answers: ChallengeAnswers;
  timing: Pick<AcmeTiming, 'pollMinMs' | 'pollMaxMs' | 'validationTimeoutMs' | 'requestTimeoutMs'>;
}

const TERMINAL_AUTHZ = new Set(['invalid', 'deactivated', 'expired', 'revoked']);

export class AcmeIssuer implements CertificateIssuer {
  readonly location: string;
  private readonly opts: AcmeIssuerOptions;
  private readonly httpsAgent: AcmeAgent;
  private client: acme.Client | undefined;

  constructor(opts: AcmeIssuerOptions) {
    this.opts = opts;
    this.location = opts.directoryUrl;
    this.httpsAgent = createAcmeAgent(opts.ca);
  }

  async issue(request: IssueRequest): Promise<string> {
    this.httpsAgent.lastConnectionError = undefined;
    return withAcmeScope(
      { httpsAgent: this.httpsAgent, signal: request.signal, timeoutMs: this.opts.timing.requestTimeoutMs },
      () => this.order(request),
    );
  }

  /** Our own errors as they are; a connection error instead of acme-client's TypeError. */
  explain(err: unknown, domain: string): CountersignError {
    return this.describeFailure(err, domain);
  }

  async close(): Promise<void> {
    this.httpsAgent.destroy();
  }

  private async order(request: IssueRequest): Promise<string> {
    const { domain } = request;
    const client = await this.accountClient();
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: domain }] });
    request.onOrder(order.url);
    for (const authz of await client.getAuthorizations(order)) {
      if (authz.status === 'valid') continue; // the CA reused an earlier validation
      await this.solve(client, order, authz, request);
    }
    const [, csr] = await acme.crypto.createCsr({ commonName: domain, altNames: [domain] }, request.keyPem);
    const finalized = await this.waitOrder(client, await client.finalizeOrder(order, csr), request.signal);
    return client.getCertificate(finalized);
  }

  private async accountClient(): Promise<acme.Client> {
    if (this.client) return this.client;
    const { accounts, eab, email } = this.opts;
    let accountKey = await accounts.readAccountKey();
    if (!accountKey) {
      // first writer wins: instances sharing a storage share one account
      accountKey = await accounts.createAccountKey((await acme.crypto.createPrivateEcdsaKey()).toString());
    }
    const client = new acme.Client({
      directoryUrl: this.location,
      accountKey,
      ...(eab ? { externalAccountBinding: { kid: eab.kid, hmacKey: eab.hmacKey } } : {}),
    });
    const contact = email ? [`mailto:${email}`] : [];
    try {
      // an existing key gets its existing account back (RFC 8555 §7.3.1), so this is safe after a restart
      await client.createAccount({ termsOfServiceAgreed: true, contact });
    } catch (err) {
      const cause = this.describeFailure(err, undefined);
      const needsEab = !eab && /externalAccount/i.test(cause.message) ? '; the CA requires external account binding: set acme.eab (kid and hmacKey from your CA account)' : '';
      throw new CountersignError(cause.code, `account registration at ${this.location} failed: ${cause.message}${needsEab}`, { cause: err });
    }
    await accounts.writeAccountInfo({ url: client.getAccountUrl(), contact });
    this.client = client;
    return client;
  }

  private async solve(client: acme.Client, order: acme.Order, authz: acme.Authorization, request: IssueRequest): Promise<void> {
    const domain = authz.identifier.value;
    const type = this.opts.challenge;
    const challenge = authz.challenges.find((c) => c.type === type);
    if (!challenge) {
      throw new CountersignError('ERR_ACME_CHALLENGE', `${domain}: the ACME server offers no ${type} challenge (it offers ${authz.challenges.map((c) => c.type).join(', ') || 'none'}); change acme.challenge`);
    }
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    // the http-01 token, or the domain for tls-alpn-01
    const id = type === 'http-01' ? (challenge as { token: string }).token : domain;
    const shared = { type, id, domain, keyAuthorization };
    const withdraw = await this.opts.answers.present(shared);
    let unshare: () => Promise<void>;
    try {
      // the other instances of a fleet answer it too (etcd storage; a no-op for a directory)
      unshare = await request.shareChallenge(shared);
    } catch (err) {
      withdraw();
      throw err;
    }
    try {
      await client.completeChallenge(challenge);
      await this.poll(`${type} validation of ${domain}`, request.signal, async () => {
        const fresh = (await client.getAuthorizations(order)).find((a) => a.identifier.value === domain);
        if (!fresh || fresh.status === 'valid') return true;
        if (TERMINAL_AUTHZ.has(fresh.status)) {
          const detail = problemDetail(fresh.challenges.find((c) => c.type === type)?.error) ?? `authorization is ${fresh.status}`;
          throw new CountersignError('ERR_ACME_CHALLENGE', `${domain}: ${type} validation failed: ${detail}; ${challengeHint(type, domain)}`);
        }
        return false;
      });
    } finally {
      withdraw();
      await unshare();
    }
  }

  private async waitOrder(client: acme.Client, order: acme.Order, signal: AbortSignal): Promise<acme.Order> {
    let current = order;
    await this.poll(`the order for ${order.identifiers.map((i) => i.value).join(', ')}`, signal, async () => {
      if (current.status === 'valid') return true;
      if (current.status === 'invalid') {
        throw new CountersignError('ERR_ACME', `order ${current.url} became invalid: ${problemDetail(current.error) ?? 'no detail from the server'}`);
      }
      current = { ...(await client.getOrder(current)), url: current.url };
      return current.status === 'valid';
    });
    return current;
  }

  /** Polls with doubling, abortable sleeps (acme-client's own wait cannot be interrupted by a stop). */
  private async poll(what: string, signal: AbortSignal, done: () => Promise<boolean>): Promise<void> {
    const { pollMinMs, pollMaxMs, validationTimeoutMs } = this.opts.timing;
    const deadline = Date.now() + validationTimeoutMs;
    let delay = pollMinMs;
    while (!(await done())) {
      if (Date.now() > deadline) throw new CountersignError('ERR_ACME', `${what} still pending after ${Math.round(validationTimeoutMs / 1000)} s`);
      await sleep(delay, undefined, { signal });
      delay = Math.min(delay * 2, pollMaxMs);
    }
  }

  private describeFailure(err: unknown, domain: string | undefined): CountersignError {
    if (err instanceof CountersignError) return err;
    const prefix = domain ? `${domain}: ` : '';
    const conn = this.httpsAgent.lastConnectionError;
    if (conn && !(err instanceof Error && (err as { response?: unknown }).response)) {
      const code = (conn as NodeJS.ErrnoException).code;
      return new CountersignError('ERR_ACME', `${prefix}cannot reach the ACME server ${this.location}: ${conn.message}${code && !conn.message.includes(code) ? ` (${code})` : ''}; check acme.directory, the network, and acme.ca for a private CA`, { cause: err });
    }
    if (err instanceof TypeError && /reading 'config'/.test(err.message)) {
      return new CountersignError('ERR_ACME', `${prefix}no response from the ACME server ${this.location} within ${this.opts.timing.requestTimeoutMs} ms or the request was cut off; check the network`, { cause: err });
    }
    return new CountersignError('ERR_ACME', `${prefix}${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
}

function problemDetail(problem: object | undefined): string | undefined {
  if (!problem) return undefined;
  const p = problem as { detail?: string; type?: string };
  return p.detail ? `${p.detail}${p.type ? ` (${p.type})` : ''}` : p.type;
}

function challengeHint(type: AcmeChallengeType, domain: string): string {
  return type === 'http-01'
    ? `the CA must reach http://${domain}/.well-known/acme-challenge/ on port 80: check DNS for ${domain} and that acme.httpListen is reachable from the internet`
    : `the CA must reach ${domain} on port 443 and get ALPN acme-tls/1: check DNS for ${domain} and that the edge listener is what answers on 443 (no TLS-terminating load balancer in front)`;
}
