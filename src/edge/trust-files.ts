/**
 * The client-auth trust the edge reads from files: CA bundles and CRLs. Loaded and
 * validated as a unit so a half-written bundle never replaces a good one.
 * `TrustFileSource` keeps the trust served now and stages reloads for the
 * certificate store, which puts it into every context's `ca`/`crl`.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { CountersignError } from '../errors.js';
import { der, loadCertificates, formatDerName, pemBlocks, toPem, parseCertificateFields } from '../pki/index.js';
import { digestOf } from './server-certificate.js';
import { buildClientTrust, type ClientTrust } from './client-trust.js';
import { reasonOf, type EdgeLogger } from './logger.js';
import { statusError, type EmitEvent, type ReloadResult, type StagedChange, type StatusError } from './certificate-source.js';

const { TAG, content, decodeTime, raw, readChildren, readRoot } = der;

export interface TrustFiles {
  /** PEM files with the CA certificates that client certificates must chain to */
  ca?: string[];
  /** PEM (or DER) CRL files checked against client certificates */
  crl?: string[];
}

export interface LoadedTrust {
  /** PEM text per CA file, as `SecureContextOptions.ca` takes it */
  ca: string[];
  /** PEM text per CRL file, as `SecureContextOptions.crl` takes it */
  crl: string[];
  caCertificates: number;
  digest: string;
  /**
   * Problems that do not make the files unusable but will reject clients: with any
   * CRL configured OpenSSL checks revocation for every CA in a client's chain, so a
   * CA without a CRL, or a CRL past its nextUpdate, fails every client of that CA.
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
      candidate = await loadTrustFiles(this.files);
    } catch (err) {
      this.refuse(err, result);
      return undefined;
    }
    if (candidate.digest === this.trust.digest || (!force && candidate.digest === this.refusedDigest)) {
      if (candidate.digest === this.trust.digest) { this.refusedDigest = undefined; this.error = undefined; }
      result.unchanged.push(TRUST_ID);
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
  const ca: string[] = [];
  const crl: string[] = [];
  const contents: Buffer[] = [];
  const caSubjects: { der: Buffer; path: string }[] = [];
  const crlIssuers: { der: Buffer; nextUpdate?: Date; path: string }[] = [];
  const crlDers: Buffer[] = [];
  for (const path of files.ca ?? []) {
    const bytes = await readOrThrow(path, 'client CA bundle');
    contents.push(bytes);
    for (const c of loadCertificates(bytes, path)) caSubjects.push({ der: parseCertificateFields(c.raw).subject, path });
    ca.push(bytes.toString('latin1'));
  }
  for (const path of files.crl ?? []) {
    const bytes = await readOrThrow(path, 'CRL');
    contents.push(bytes);
    const { pem, ders } = crlPem(bytes, path);
    crl.push(pem);
    for (const der of ders) crlIssuers.push({ ...crlHeader(der, path), path });
    crlDers.push(...ders);
  }
  const warnings: string[] = [];
  const now = Date.now();
  for (const c of crlIssuers) {
    if (c.nextUpdate && c.nextUpdate.getTime() < now) {
      warnings.push(`${c.path}: CRL of "${formatDerName(c.der)}" is past its nextUpdate (${c.nextUpdate.toISOString()}); OpenSSL rejects clients of that CA until a fresh CRL is installed`);
    }
  }
  if (crlIssuers.length > 0) {
    for (const s of caSubjects) {
      if (!crlIssuers.some((c) => c.der.equals(s.der))) {
        warnings.push(`${s.path}: CA "${formatDerName(s.der)}" has no CRL among the configured CRL files; with CRL checking on, its clients are rejected ("unable to get certificate CRL")`);
      }
    }
  }
  const digest = digestOf(...contents);
  let clientTrust: ClientTrust;
  try {
    clientTrust = buildClientTrust({ digest, crlDers, caPems: ca });
  } catch (err) {
    throw new CountersignError('ERR_CRL_INVALID', `${(files.crl ?? []).join(', ')}: a CRL's revoked list is not valid DER (${(err as Error).message})`, { cause: err });
  }
  return { ca, crl, caCertificates: caSubjects.length, digest, warnings, clientTrust };
}

/** The issuer and nextUpdate of a DER CertificateList (RFC 5280 §5.1). */
function crlHeader(der: Buffer, path: string): { der: Buffer; nextUpdate?: Date } {
  try {
    const [tbs] = readChildren(der, readRoot(der, TAG.SEQUENCE));
    const f = readChildren(der, tbs);
    let i = f[0]?.tag === TAG.INTEGER ? 1 : 0; // version
    i++; // signature algorithm
    const issuer = raw(der, f[i++]);
    i++; // thisUpdate
    const next = f[i];
    const nextUpdate = next && (next.tag === TAG.UTC_TIME || next.tag === TAG.GENERALIZED_TIME) ? decodeTime(next.tag, content(der, next)) : undefined;
    return { der: issuer, nextUpdate };
  } catch (err) {
    throw new CountersignError('ERR_CRL_INVALID', `${path}: CRL is not valid DER (${(err as Error).message})`, { cause: err });
  }
}

function crlPem(bytes: Buffer, path: string): { pem: string; ders: Buffer[] } {
  let pem: string;
  let ders: Buffer[];
  if (bytes[0] === 0x30) {
    ders = [bytes];
    pem = toPem(bytes, 'X509 CRL');
  } else {
    // "CRL" is what some toolkits (e.g. @peculiar/x509) write; OpenSSL only reads "X509 CRL"
    const blocks = pemBlocks(bytes).filter((b) => b.label === 'X509 CRL' || b.label === 'CRL');
    if (blocks.length === 0) throw new CountersignError('ERR_CRL_INVALID', `${path}: no "-----BEGIN X509 CRL-----" block found; give a PEM or DER CRL`);
    ders = blocks.map((b) => b.der);
    pem = ders.map((d) => toPem(d, 'X509 CRL')).join('');
  }
  try {
    createSecureContext({ crl: pem }); // OpenSSL is the parser that matters here
  } catch (err) {
    throw new CountersignError('ERR_CRL_INVALID', `${path}: CRL cannot be parsed (${(err as Error).message}); give a PEM or DER X.509 CRL`, { cause: err });
  }
  return { pem, ders };
}

export async function readOrThrow(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CountersignError('ERR_CONFIG_FILE', `${path}: cannot read ${what} (${code ?? (err as Error).message}); check the path and its permissions`, { cause: err });
  }
}
