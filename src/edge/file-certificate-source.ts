/**
 * Server certificates from certificate/key file pairs: read and validated at
 * start (the first problem throws), re-read on a file event or SIGHUP with a
 * result per pair. A pair whose new bytes are refused keeps serving its previous
 * content, and the watcher does not retry those same bytes (a forced reload does).
 */
import { resolve } from 'node:path';
import { CountersignError } from '../errors.js';
import { reasonOf, type EdgeLogger } from './logger.js';
import { loadServerCertificate, digestOf, type ServerCertificate } from './server-certificate.js';
import { readOrThrow } from './trust-files.js';
import {
  checkContext, describeServed, statusError,
  type EmitEvent, type ReloadResult, type ServedLookup, type ServerCertificateStatus, type StagedChange, type StatusError,
} from './certificate-source.js';

export interface CertificatePairConfig {
  /** PEM file with the certificate, optionally followed by its intermediates */
  cert: string;
  /** PEM file with the private key (PKCS#8, PKCS#1 or SEC1; not encrypted) */
  key: string;
}

export interface FileUnit {
  id: string;
  certPath: string;
  keyPath: string;
  cert: ServerCertificate;
  loadedAt: Date;
  /** content digest of the last refused attempt: the same bytes are not retried by the watcher */
  refusedDigest?: string;
  lastError?: StatusError;
}

export class FileCertificateSource {
  readonly kind = 'file' as const;

  private constructor(
    private current: FileUnit[],
    private readonly logger: EdgeLogger,
    private readonly emit: EmitEvent,
  ) {}

  /** Reads and validates every pair in order; throws on the first problem. */
  static async load(pairs: CertificatePairConfig[], logger: EdgeLogger, emit: EmitEvent): Promise<FileCertificateSource> {
    const units: FileUnit[] = [];
    for (const [i, pair] of pairs.entries()) {
      const certPath = resolve(pair.cert);
      const keyPath = resolve(pair.key);
      const cert = await readPair(certPath, keyPath);
      checkSelectable(cert, certPath, i);
      units.push({ id: certPath, certPath, keyPath, cert, loadedAt: new Date() });
    }
    return new FileCertificateSource(units, logger, emit);
  }

  /** the pairs served now, in configuration order (the first is the default) */
  get units(): readonly FileUnit[] { return this.current; }

  /** every file to watch */
  paths(): string[] {
    return this.current.flatMap((u) => [u.certPath, u.keyPath]);
  }

  /**
   * Re-reads every pair. Unreadable or invalid pairs are refused now (into
   * `result`); unchanged ones are listed as such. Returns the pairs whose new
   * content passed, staged, or undefined when none changed.
   */
  async prepare(force: boolean, result: ReloadResult): Promise<StagedChange<FileUnit[]> | undefined> {
    const nextUnits: FileUnit[] = [];
    const changed: FileUnit[] = [];
    for (const [i, u] of this.current.entries()) {
      let certPem: Buffer;
      let keyPem: Buffer;
      try {
        certPem = await readOrThrow(u.certPath, 'certificate');
        keyPem = await readOrThrow(u.keyPath, 'private key');
      } catch (err) {
        this.refuse(u, undefined, err, result);
        nextUnits.push(u);
        continue;
      }
      const digest = digestOf(certPem, keyPem);
      if (digest === u.cert.contentDigest || (!force && digest === u.refusedDigest)) {
        if (digest === u.cert.contentDigest) { u.refusedDigest = undefined; u.lastError = undefined; }
        result.unchanged.push(u.id);
        nextUnits.push(u);
        continue;
      }
      try {
        const cert = loadServerCertificate({ certPem, keyPem, what: u.certPath });
        checkSelectable(cert, u.certPath, i);
        checkContext(cert, u.certPath);
        const next: FileUnit = { ...u, cert, loadedAt: new Date(), refusedDigest: undefined, lastError: undefined };
        nextUnits.push(next);
        changed.push(next);
      } catch (err) {
        this.refuse(u, digest, err, result);
        nextUnits.push(u);
      }
    }
    if (changed.length === 0) return undefined;
    return {
      ids: changed.map((u) => u.id),
      value: nextUnits,
      commit: () => { this.current = nextUnits; },
      announce: () => {
        for (const u of changed) {
          this.logger.info({ cert: u.certPath, names: u.cert.dnsNames, notAfter: u.cert.notAfter.toISOString(), certSha256: u.cert.certSha256 }, 'server certificate reloaded');
        }
      },
      refuse: (err, res) => {
        for (const u of changed) {
          const old = this.current.find((x) => x.id === u.id)!;
          this.refuse(old, u.cert.contentDigest, err, res);
        }
      },
    };
  }

  rows(served: ServedLookup): ServerCertificateStatus[] {
    return this.current.map((u) => ({
      id: u.id,
      source: 'file',
      names: [...u.cert.dnsNames, ...u.cert.ipAddresses],
      ...served(u.id),
      ...describeServed(u.cert),
      paths: { cert: u.certPath, key: u.keyPath },
      lastReload: u.loadedAt,
      lastError: u.lastError,
    }));
  }

  private refuse(u: FileUnit, digest: string | undefined, err: unknown, result: ReloadResult): void {
    u.refusedDigest = digest;
    u.lastError = statusError(err);
    result.failed.push({ id: u.id, code: u.lastError.code, message: u.lastError.message });
    this.logger.error({ cert: u.certPath, key: u.keyPath, ...reasonOf(err) }, 'server certificate reload refused; still serving the previous one');
    this.emit({ type: 'refused', id: u.id, code: u.lastError.code, message: u.lastError.message });
  }
}

async function readPair(certPath: string, keyPath: string): Promise<ServerCertificate> {
  const certPem = await readOrThrow(certPath, 'certificate');
  const keyPem = await readOrThrow(keyPath, 'private key');
  const cert = loadServerCertificate({ certPem, keyPem, what: certPath });
  checkContext(cert, certPath);
  return cert;
}

/** A certificate other than the default with no names could never be selected. */
function checkSelectable(cert: ServerCertificate, path: string, index: number): void {
  if (index > 0 && cert.dnsNames.length === 0 && cert.ipAddresses.length === 0) {
    throw new CountersignError('ERR_CERT_NO_NAMES', `${path}: certificate "${cert.subject}" has no DNS or IP subjectAltName, so no SNI can select it; add subjectAltNames or make it the first (default) certificate`);
  }
}
