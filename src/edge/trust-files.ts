/**
 * The client-auth trust the edge reads from files: CA bundles and CRLs. Loaded and
 * validated as a unit so a half-written bundle never replaces a good one.
 * `TrustFileSource` keeps the trust served now and stages reloads for the
 * certificate store, which puts it into every context's `ca`/`crl`.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CountersignError } from '../errors.js';
import { loadCertificates, formatDerName, parseCertificateFields } from '../pki/index.js';
import { crlDers, parseCrlInSlices, type ParsedCrl } from './revocation/index.js';
import { digestOf } from './server-certificate.js';
import { buildClientTrust, type ClientTrust } from './client-trust.js';
import { reasonOf, type EdgeLogger } from './logger.js';
import { statusError, type EmitEvent, type ReloadResult, type StagedChange, type StatusError } from './certificate-source.js';


export interface TrustFiles {
  /** PEM files with the CA certificates that client certificates must chain to */
  ca?: string[];
  /** PEM (or DER) CRL files checked against client certificates */
  crl?: string[];
}

export interface LoadedTrust {
  /** PEM text per CA file, as `SecureContextOptions.ca` takes it (CRLs are not handed to OpenSSL: they are looked up per connection) */
  ca: string[];
  caCertificates: number;
  digest: string;
  /**
   * Problems that do not make the files unusable but will reject clients: with any
   * CRL configured every CA in a client's chain needs a CRL, so a CA without one,
   * or a CRL past its nextUpdate (and the grace), fails every client of that CA.
   */
  warnings: string[];
  /** revoked serials and CA certificates, for the checks OpenSSL skips on a resumed session */
  clientTrust: ClientTrust;
}

export interface TrustStatus {
  caFiles: string[];
  crlFiles: string[];
  /** certificates in the CA files */
  caCertificates: number;
  /** e.g. a CA without a CRL while CRL checking is on: its clients are rejected */
  warnings: string[];
  lastReload: Date;
  lastError?: StatusError;
}

/** The id the trust files have in reload results and store events. */
export const TRUST_ID = 'trust';

/** The CA bundles and CRLs served now, their reload state, and staged reloads. */
export class TrustFileSource {
  private trust: LoadedTrust;
  private loadedAt = new Date();
  private refusedDigest: string | undefined;
  private error: StatusError | undefined;

  private constructor(
    private readonly files: TrustFiles,
    trust: LoadedTrust,
    private readonly logger: EdgeLogger,
    private readonly emit: EmitEvent,
  ) {
    this.trust = trust;
  }

  /** Reads and validates the files (none is fine: then there is no file trust); throws on a problem. */
  static async load(files: TrustFiles, logger: EdgeLogger, emit: EmitEvent): Promise<TrustFileSource> {
    return new TrustFileSource(files, await loadTrustFiles(files), logger, emit);
  }

  /** the trust served now */
  get loaded(): LoadedTrust { return this.trust; }

  /** every file to watch */
  paths(): string[] {
    return [...(this.files.ca ?? []), ...(this.files.crl ?? [])];
  }

  logWarnings(trust: LoadedTrust = this.trust): void {
    for (const w of trust.warnings) this.logger.warn({ reason: w }, 'client trust warning');
  }

  /**
   * Re-reads the files (when any are configured). A read or parse problem is
   * refused now (into `result`); unchanged content is listed as such. Returns
   * the new trust, staged, or undefined when nothing is to be applied.
   */
  async prepare(force: boolean, result: ReloadResult): Promise<StagedChange<LoadedTrust> | undefined> {
    if ((this.files.ca?.length ?? 0) + (this.files.crl?.length ?? 0) === 0) return undefined;
    let candidate: LoadedTrust;
    try {
      // the bytes first: unchanged files are not parsed again (a large CRL costs a fraction of a second)
      const read = await readTrustFiles(this.files);
      if (read.digest === this.trust.digest || (!force && read.digest === this.refusedDigest)) {
        if (read.digest === this.trust.digest) { this.refusedDigest = undefined; this.error = undefined; }
        result.unchanged.push(TRUST_ID);
        return undefined;
      }
      candidate = await parseTrustFiles(read);
    } catch (err) {
      this.refuse(err, result);
      return undefined;
    }
    return {
      ids: [TRUST_ID],
      value: candidate,
      commit: () => { this.trust = candidate; this.loadedAt = new Date(); this.refusedDigest = undefined; this.error = undefined; },
      announce: () => {
        this.logger.info({ ca: this.files.ca, crl: this.files.crl, caCertificates: candidate.caCertificates }, 'client trust reloaded');
        this.logWarnings(candidate);
      },
      refuse: (err, res) => this.refuse(err, res, candidate.digest),
    };
  }

  status(): TrustStatus {
    return {
      caFiles: [...(this.files.ca ?? [])],
      crlFiles: [...(this.files.crl ?? [])],
      caCertificates: this.trust.caCertificates,
      warnings: [...this.trust.warnings],
      lastReload: this.loadedAt,
      lastError: this.error,
    };
  }

  private refuse(err: unknown, result: ReloadResult, digest?: string): void {
    this.refusedDigest = digest;
    this.error = statusError(err);
    result.failed.push({ id: TRUST_ID, code: this.error.code, message: this.error.message });
    this.logger.error({ ca: this.files.ca, crl: this.files.crl, ...reasonOf(err) }, 'client trust reload refused; still using the previous CA bundle and CRLs');
    this.emit({ type: 'refused', id: TRUST_ID, code: this.error.code, message: this.error.message });
  }
}

export async function loadTrustFiles(files: TrustFiles): Promise<LoadedTrust> {
  return parseTrustFiles(await readTrustFiles(files));
}

interface TrustFileBytes { ca: { path: string; bytes: Buffer }[]; crl: { path: string; bytes: Buffer }[]; digest: string }

async function readTrustFiles(files: TrustFiles): Promise<TrustFileBytes> {
  const ca = await Promise.all((files.ca ?? []).map(async (path) => ({ path, bytes: await readOrThrow(path, 'client CA bundle') })));
  const crl = await Promise.all((files.crl ?? []).map(async (path) => ({ path, bytes: await readOrThrow(path, 'CRL') })));
  return { ca, crl, digest: digestOf(...ca.map((f) => f.bytes), ...crl.map((f) => f.bytes)) };
}

async function parseTrustFiles(read: TrustFileBytes): Promise<LoadedTrust> {
  const ca: string[] = [];
  const cas: { x509: X509Certificate; subject: Buffer; path: string }[] = [];
  const crls: ParsedCrl[] = [];
  for (const { path, bytes } of read.ca) {
    for (const c of loadCertificates(bytes, path)) cas.push({ x509: new X509Certificate(c.raw), subject: parseCertificateFields(c.raw).subject, path });
    ca.push(bytes.toString('latin1'));
  }
  for (const { path, bytes } of read.crl) {
    for (const der of crlDers(bytes, path)) {
      const crl = await parseCrlInSlices(der, path);
      // A CRL of a configured CA is verified now (once); one of an intermediate clients send, at its first use.
      const issuers = cas.filter((c) => c.subject.toString('hex') === crl.issuerKey);
      if (issuers.length > 0 && !issuers.some((c) => crl.signedBy(c.x509))) {
        throw new CountersignError('ERR_CRL_INVALID', `${path}: the CRL's signature does not verify with the key of CA "${crl.issuer}" (${issuers[0].path}); give the CRL that CA signed`);
      }
      crls.push(crl);
    }
  }
  const warnings: string[] = [];
  const now = Date.now();
  for (const c of crls) {
    if (c.nextUpdate && c.nextUpdate.getTime() < now) {
      warnings.push(`${c.source}: CRL of "${c.issuer}" is past its nextUpdate (${c.nextUpdate.toISOString()}); clients of that CA are refused once edge.clientAuth.revocation.grace has passed too, until a fresh CRL is installed`);
    }
  }
  if (crls.length > 0) {
    for (const s of cas) {
      if (!crls.some((c) => c.issuerKey === s.subject.toString('hex'))) {
        warnings.push(`${s.path}: CA "${formatDerName(s.subject)}" has no CRL among the configured CRL files; with CRL files configured every CA of a client's chain needs one, so the clients it issued are refused`);
      }
    }
  }
  const digest = read.digest;
  return { ca, caCertificates: cas.length, digest, warnings, clientTrust: buildClientTrust({ digest, crls, caPems: ca }) };
}


export async function readOrThrow(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CountersignError('ERR_CONFIG_FILE', `${path}: cannot read ${what} (${code ?? (err as Error).message}); check the path and its permissions`, { cause: err });
  }
}
