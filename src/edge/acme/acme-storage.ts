/**
 * Where ACME keeps what it must not lose: the account key, and each domain's
 * certificate and private key, so a restart serves the stored certificate
 * instead of ordering a new one (and running into the CA's rate limits).
 *
 * Two implementations, one file each:
 *   - file-acme-storage.ts: a directory on this machine (one instance);
 *   - etcd-acme-storage.ts: etcd over mTLS, shared by a fleet. Its lock is an
 *     etcd lease, so exactly one instance orders a certificate for a name, and
 *     a watch hands what one instance wrote to all the others.
 *
 * Both are keyed by ACME directory (certmagic does the same) so switching from
 * staging to production never serves a staging certificate.
 */
import { CountersignError } from '../../errors.js';
import type { EdgeLogger } from '../logger.js';

export interface StoredCertificate {
  certPem: string;
  keyPem: string;
}

export interface CertificateMeta {
  domain: string;
  directory: string;
  issuedAt: string;
}

/** A challenge answer published for the other instances of a fleet (the CA's validation may reach any of them). */
export interface SharedChallenge {
  type: 'http-01' | 'tls-alpn-01';
  /** the http-01 token, or the domain for tls-alpn-01 */
  id: string;
  /** the domain validated */
  domain: string;
  keyAuthorization: string;
}

/** Held while one instance orders (or renews) the certificate of one name. */
export interface AcmeLock {
  /** aborted when the lock is lost (e.g. the etcd lease expired): stop the order */
  readonly signal: AbortSignal;
  /** publishes a challenge answer for as long as the lock is held; resolves to its removal */
  publishChallenge(c: SharedChallenge): Promise<() => Promise<void>>;
  release(): Promise<void>;
}

export interface AcmeStorageWatch {
  /** a certificate was written, by this instance or another one */
  onCertificate(domain: string): void;
  /** a challenge answer was published by another instance (`undefined`: removed) */
  onChallenge?(id: SharedChallenge['id'], type: SharedChallenge['type'], c: SharedChallenge | undefined): void;
}

export interface AcmeStorage {
  readonly kind: 'file' | 'etcd';
  /** for logs and status: the directory, or `etcd:<prefix>` */
  readonly location: string;
  /** a lock that is busy is tried again after this many ms */
  readonly lockRetryMs: number;
  /** creates what is needed, checks access; throws ERR_ACME_STORAGE */
  init(): Promise<void>;
  readAccountKey(): Promise<string | undefined>;
  /** stores `pem` unless an account key is already stored; resolves to the stored key (first writer wins) */
  createAccountKey(pem: string): Promise<string>;
  writeAccountInfo(info: { url: string; contact: string[] }): Promise<void>;
  /** where a domain's certificate and key are, for status output */
  certificatePaths(domain: string): { cert: string; key: string };
  readCertificate(domain: string): Promise<StoredCertificate | undefined>;
  writeCertificate(domain: string, c: StoredCertificate, meta: CertificateMeta): Promise<void>;
  /** takes the lock for ordering `domain`'s certificate, or resolves undefined when another instance holds it */
  tryLock(domain: string): Promise<AcmeLock | undefined>;
  /** a challenge answer another instance published (undefined for a directory: nobody else orders) */
  readChallenge(type: SharedChallenge['type'], id: string): Promise<SharedChallenge | undefined>;
  /** tells of certificates (and challenges) written by others; resolves to the unsubscribe */
  watch(w: AcmeStorageWatch): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** What the config's `edge.acme.storage` says: a directory, or etcd. */
export type AcmeStorageSpec = string | { etcd: EtcdStorageSpec };

export interface EtcdStorageSpec {
  /** https URLs of the etcd members */
  endpoints: string[];
  /** key prefix, e.g. `/countersign/acme/` */
  prefix: string;
  /** PEM contents (not paths): the CA that verifies etcd, and the client certificate and key */
  tls: { ca: string; cert: string; key: string };
  /** lease TTL of the order lock, in ms */
  lockTtlMs: number;
  /** per etcd request, in ms */
  requestTimeoutMs?: number;
}

export interface OpenAcmeStorageOptions {
  spec: AcmeStorageSpec;
  directoryUrl: string;
  logger?: EdgeLogger;
}

/** Builds the storage the spec names; the etcd client is imported only when etcd is configured. */
export async function openAcmeStorage(opts: OpenAcmeStorageOptions): Promise<AcmeStorage> {
  if (typeof opts.spec === 'string') {
    const { FileAcmeStorage } = await import('./file-acme-storage.js');
    return new FileAcmeStorage({ root: opts.spec, directoryUrl: opts.directoryUrl, logger: opts.logger });
  }
  const { EtcdAcmeStorage } = await import('./etcd-acme-storage.js');
  return new EtcdAcmeStorage({ ...opts.spec.etcd, directoryUrl: opts.directoryUrl, logger: opts.logger });
}

/** `https://acme-v02.api.letsencrypt.org/directory` → `acme-v02.api.letsencrypt.org-directory` */
export function directoryKey(url: string): string {
  const u = new URL(url);
  const path = u.pathname.replace(/^\/+|\/+$/g, '').replace(/\//g, '-');
  return `${u.hostname}${u.port ? `_${u.port}` : ''}${path ? `-${path}` : ''}`.replace(/[^A-Za-z0-9._-]/g, '_');
}

export function storageError(where: string, what: string, err: unknown, hint = 'check that the directory exists and is writable by this user'): CountersignError {
  const errno = (err as NodeJS.ErrnoException)?.code;
  const code = typeof errno === 'string' ? errno : (err as Error)?.message ?? String(err);
  return new CountersignError('ERR_ACME_STORAGE', `acme.storage: cannot ${what} ${where} (${code}); ${hint}`, { cause: err });
}
