/**
 * What every source of server certificates shares with the store that serves
 * them: the `CertificateSource` interface the ACME manager and follower
 * implement, the status and reload-result shapes, and the checks every
 * certificate passes before it may be served. File pairs
 * (`file-certificate-source.ts`) and client trust files (`trust-files.ts`) are
 * sources too, read on demand (watch, SIGHUP) instead of pushing changes; they
 * stage a change that the store commits only once the whole new state built.
 */
import { createSecureContext } from 'node:tls';
import { CountersignError } from '../errors.js';
import { reasonOf } from './logger.js';
import type { KeySlot, ServerCertificate } from './server-certificate.js';

export type CertificateSourceKind = 'file' | 'acme';

export interface SourceCertificate {
  /** stable id, e.g. `acme:example.com` */
  id: string;
  /** the names this entry is responsible for, also before a certificate exists */
  names: string[];
  /** PEM chain and key once issued */
  certPem?: string;
  keyPem?: string;
  nextRenewal?: Date;
  lastError?: StatusError;
}

/** Certificates from somewhere other than files (the ACME manager). */
export interface CertificateSource {
  readonly kind: Exclude<CertificateSourceKind, 'file'>;
  certificates(): SourceCertificate[];
  /** `onChange` is called whenever `certificates()` would return something new */
  subscribe(onChange: () => void): () => void;
}

export interface StatusError { code: string; message: string; at: Date }

export interface ServerCertificateStatus {
  /** the cert file path for files, `acme:<domain>` for ACME */
  id: string;
  source: CertificateSourceKind;
  /** DNS names and IP addresses from the subjectAltName (for ACME before issuance: the configured domains) */
  names: string[];
  /** names for which this certificate is what clients get right now */
  servedNames: string[];
  isDefault: boolean;
  subject?: string;
  issuer?: string;
  serial?: string;
  notBefore?: Date;
  notAfter?: Date;
  keyType?: KeySlot;
  certSha256?: string;
  paths?: { cert: string; key: string };
  /** when the material served now was loaded */
  lastReload?: Date;
  /** the last refused reload or failed issuance; cleared by the next success */
  lastError?: StatusError;
  /** ACME: when renewal is due (or the next retry) */
  nextRenewal?: Date;
}

export interface ReloadResult {
  /** ids whose new content is now served */
  reloaded: string[];
  unchanged: string[];
  /** ids whose new content was refused; the previous content is still served */
  failed: { id: string; code: string; message: string }[];
}

export type CertificateStoreEvent =
  | { type: 'swapped'; reloaded: string[] }
  | { type: 'refused'; id: string; code: string; message: string };

/** How a source tells the store's subscribers about a refusal. */
export type EmitEvent = (event: CertificateStoreEvent) => void;

/**
 * A change a file-backed source has read and validated but not yet applied. The
 * store builds the new state with `value`; if that works it calls `commit`,
 * swaps, then `announce` (the log lines); if not, `refuse` (the previous content
 * keeps serving and the same bytes are not retried by the watcher).
 */
export interface StagedChange<T> {
  ids: string[];
  value: T;
  commit(): void;
  announce(): void;
  refuse(err: unknown, result: ReloadResult): void;
}

/** Where a status row's served names and default flag come from: the state being served. */
export type ServedLookup = (id: string) => { servedNames: string[]; isDefault: boolean };

export function describeServed(c: ServerCertificate): Partial<ServerCertificateStatus> {
  return {
    subject: c.subject, issuer: c.issuer, serial: c.serial, notBefore: c.notBefore, notAfter: c.notAfter,
    keyType: c.keySlot, certSha256: c.certSha256,
  };
}

export function statusError(err: unknown): StatusError {
  const { reason, code } = reasonOf(err);
  return { code: code ?? 'ERR_UNKNOWN', message: reason, at: new Date() };
}

/** OpenSSL has its own opinions (e.g. RSA keys under 2048 bits at security level 2). */
export function checkContext(cert: ServerCertificate, what: string): void {
  try {
    createSecureContext({ cert: cert.material.certPem, key: cert.material.keyPem });
  } catch (err) {
    throw new CountersignError('ERR_TLS_CONTEXT', `${what}: OpenSSL refuses this certificate/key for TLS (${(err as Error).message})`, { cause: err });
  }
}
