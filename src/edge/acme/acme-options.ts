/**
 * What the ACME manager accepts from a library caller: the config checks
 * (src/config/acme-checks.ts, which `check` runs too), then what only a
 * library caller can get wrong. Each problem is ERR_CONFIG_INVALID naming the
 * option to fix.
 */
import { acmeDirectoryUrl, acmeSettingsProblems, parseHostPort, type HostPort } from '../../config/index.js';
import { CountersignError } from '../../errors.js';
import type { AcmeTiming } from '../../config/index.js';
import type { EdgeLogger } from '../logger.js';
import type { AcmeChallengeType } from './acme-issuer.js';
import type { AcmeStorage } from './acme-storage.js';
import type { CertificateKeyType } from './certificate-maintainer.js';
import type { ChallengeChange } from './challenge-registry.js';

export type AcmeKeyType = CertificateKeyType;

/** What a library caller gives the ACME manager; timings left out are the schema's defaults (config/acme-timing.ts). */
export interface AcmeManagerOptions extends Partial<AcmeTiming> {
  /** ACME directory URL (https), or `letsencrypt` / `letsencrypt-staging` */
  directory: string;
  /** PEM CA certificate(s) to trust for the ACME server's own HTTPS (private ACME: step-ca, Pebble); default Node's bundled roots */
  ca?: string | Buffer | (string | Buffer)[];
  /** contact address for the account (expiry mail from the CA) */
  email?: string;
  /** DNS names, one certificate each; wildcards need dns-01 and are refused */
  domains: string[];
  challenge: AcmeChallengeType;
  /** where the http-01 listener binds, `host:port` or an object; required for http-01, optional (redirect only) for tls-alpn-01 */
  httpListen?: string | { host: string; port: number };
  /** port in the listener's https redirects; default 443 */
  httpsPort?: number;
  /**
   * directory for the account key and certificates (created 0700, keys 0600), or
   * a storage (etcd, see openAcmeStorage) that the manager then owns and closes
   */
  storage: string | AcmeStorage;
  /** external account binding, for CAs that require one (ZeroSSL, Google, step-ca with EAB) */
  eab?: { kid: string; hmacKey: string };
  /** key of issued certificates; default ec-p256 */
  keyType?: AcmeKeyType;
  /**
   * Worker processes: each pending challenge is also handed here, and awaited
   * before the CA is told to validate, so that whichever worker takes the
   * validation connection can answer it (see acme-follower.ts).
   */
  publishChallenge?: (change: ChallengeChange) => Promise<void>;
  logger?: EdgeLogger;
}

/** The directory URL for a URL or a known name (`letsencrypt`, `letsencrypt-staging`). */
export function resolveDirectory(directory: string): string {
  const resolved = acmeDirectoryUrl(directory);
  if ('problem' in resolved) throw new CountersignError('ERR_CONFIG_INVALID', `acme.directory: ${resolved.problem}`);
  return resolved.url;
}

/** `host:port` (the config's one parser) or the parts already; throws naming acme.httpListen. */
export function parseListen(listen: string | HostPort): HostPort {
  if (typeof listen === 'object') return listen;
  const parsed = parseHostPort(listen.trim());
  if (!parsed) throw new CountersignError('ERR_CONFIG_INVALID', `acme.httpListen: "${listen}" is not host:port (e.g. 0.0.0.0:80 or [::]:80)`);
  return parsed;
}

export function validateAcmeOptions(opts: AcmeManagerOptions): void {
  const bad = (path: string, msg: string) => new CountersignError('ERR_CONFIG_INVALID', `acme.${path}: ${msg}`);
  const problems = acmeSettingsProblems(opts, 'acme');
  if (problems.length) throw new CountersignError('ERR_CONFIG_INVALID', problems.join('; '));
  if (opts.challenge !== 'http-01' && opts.challenge !== 'tls-alpn-01') throw bad('challenge', `"${String(opts.challenge)}" is not http-01 or tls-alpn-01`);
  // with publishChallenge the worker processes answer http-01 on their own listener
  if (opts.challenge === 'http-01' && opts.httpListen === undefined && !opts.publishChallenge) throw bad('httpListen', 'http-01 needs a plain-HTTP listener the CA can reach on port 80, e.g. 0.0.0.0:80');
  if (opts.httpListen !== undefined) parseListen(opts.httpListen);
  if (!opts.storage) throw bad('storage', 'set a directory for the account key and certificates');
  const ratio = opts.renewalWindowRatio;
  if (ratio !== undefined && !(ratio > 0 && ratio < 1)) throw bad('renewalWindowRatio', `${ratio} must be between 0 and 1`);
}
