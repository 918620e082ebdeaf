/**
 * One CRL (RFC 5280 §5), parsed once when it is loaded: its issuer, validity
 * window and revoked serials (a set, so a lookup costs the same with ten
 * entries as with a million), and the signed bytes for one signature check
 * per issuer key. The revoked list is walked with pki/der (a 100,000-entry
 * CRL, 4.7 MB, parses in a fraction of a second; an object-per-field ASN.1
 * library would allocate millions of objects for the same list).
 */
import type { X509Certificate } from 'node:crypto';
import { CountersignError } from '../../errors.js';
import { der, formatDerName, pemBlocks } from '../../pki/index.js';
import { verifySignedBy } from './signature.js';

const { TAG, content, decodeTime, raw, readChildren, readRoot, readTlv } = der;

/** Work done on CRLs since the process started (parses and signature checks: per CRL, never per handshake). */
export const crlWork = { parses: 0, signatureChecks: 0 };

export interface ParsedCrl {
  /** where it came from: a file path or a distribution point URL */
  readonly source: string;
  readonly der: Buffer;
  /** hex of the issuer's DER Name */
  readonly issuerKey: string;
  /** RFC 4514-style issuer name */
  readonly issuer: string;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  /** normalised serials (see normalSerial) */
  readonly revoked: ReadonlySet<string>;
  /** True when the CRL's signature verifies with `issuer`'s key; checked once per issuer certificate. */
  signedBy(issuer: X509Certificate): boolean;
}

/** Serial INTEGER content bytes without leading 0x00 padding, hex: the same serial the same key. */
export function normalSerial(bytes: Uint8Array): string {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0 && (bytes[i + 1] & 0x80) === 0) i++;
  const rest = bytes.subarray(i);
  return (Buffer.isBuffer(rest) ? rest : Buffer.from(rest.buffer, rest.byteOffset, rest.byteLength)).toString('hex');
}

/** The DER CRLs of a file or an HTTP answer: one DER CRL, or its PEM blocks; throws ERR_CRL_INVALID naming `source`. */
export function crlDers(bytes: Buffer, source: string): Buffer[] {
  if (bytes[0] === 0x30) return [bytes];
  // "CRL" is what some toolkits (e.g. @peculiar/x509) write; OpenSSL writes "X509 CRL"
  const blocks = pemBlocks(bytes).filter((b) => b.label === 'X509 CRL' || b.label === 'CRL');
  if (blocks.length === 0) throw new CountersignError('ERR_CRL_INVALID', `${source}: not a DER or PEM CRL (no "-----BEGIN X509 CRL-----" block found); give a PEM or DER CRL`);
  return blocks.map((b) => b.der);
}

/** Revoked entries read between two yields of the parser (a few milliseconds of work). */
const ENTRIES_PER_SLICE = 4096;

/** Parses a DER CertificateList; throws ERR_CRL_INVALID naming `source`. Blocks for the whole list: for a CRL that can be large, use parseCrlInSlices. */
export function parseCrl(bytes: Buffer, source: string): ParsedCrl {
  const steps = crlParser(bytes, source);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * The same parse, giving the event loop back every few thousand entries: a
 * 100,000-entry CRL takes 100–300 ms to read, which in one piece would stall
 * every connection of the process while a CRL is reloaded or fetched.
 */
export async function parseCrlInSlices(bytes: Buffer, source: string): Promise<ParsedCrl> {
  const steps = crlParser(bytes, source);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

function* crlParser(bytes: Buffer, source: string): Generator<void, ParsedCrl, void> {
  try {
    const root = readRoot(bytes, TAG.SEQUENCE);
    const [tbsT, algT, sigT] = readChildren(bytes, root);
    if (!tbsT || !algT || sigT?.tag !== TAG.BIT_STRING) throw new Error('not a CertificateList (tbsCertList, signatureAlgorithm, signature)');
    const f = readChildren(bytes, tbsT);
    let i = f[0]?.tag === TAG.INTEGER ? 1 : 0; // version
    i++; // signature algorithm
    const issuerT = f[i++];
    if (issuerT?.tag !== TAG.SEQUENCE) throw new Error('issuer is missing');
    const thisT = f[i++];
    if (!thisT || (thisT.tag !== TAG.UTC_TIME && thisT.tag !== TAG.GENERALIZED_TIME)) throw new Error('thisUpdate is missing');
    let nextUpdate: Date | undefined;
    if (f[i] && (f[i].tag === TAG.UTC_TIME || f[i].tag === TAG.GENERALIZED_TIME)) { nextUpdate = decodeTime(f[i].tag, content(bytes, f[i])); i++; }
    const revoked = new Set<string>();
    const list = f[i];
    if (list && list.tag === TAG.SEQUENCE) {
      // each entry: SEQUENCE { userCertificate INTEGER, revocationDate, crlEntryExtensions? }: only the serial is read
      let sliceLeft = ENTRIES_PER_SLICE;
      for (let p = list.contentStart; p < list.end;) {
        if (--sliceLeft === 0) { sliceLeft = ENTRIES_PER_SLICE; yield; }
        const entry = readTlv(bytes, p, list.end);
        const serial = readTlv(bytes, entry.contentStart, entry.end);
        if (serial.tag !== TAG.INTEGER) throw new Error(`revoked entry at offset ${entry.start} has no serial`);
        revoked.add(normalSerial(content(bytes, serial)));
        p = entry.end;
      }
    }
    const issuerName = raw(bytes, issuerT);
    const signed = raw(bytes, tbsT);
    const algorithm = raw(bytes, algT);
    const signature = content(bytes, sigT).subarray(1);
    const checked = new Map<string, boolean>();
    crlWork.parses++;
    return {
      source, der: bytes, issuerKey: issuerName.toString('hex'), issuer: formatDerName(issuerName),
      thisUpdate: decodeTime(thisT.tag, content(bytes, thisT)), nextUpdate, revoked,
      signedBy(issuer) {
        let ok = checked.get(issuer.fingerprint256);
        if (ok === undefined) {
          crlWork.signatureChecks++;
          ok = verifySignedBy(issuer.publicKey, algorithm, signed, signature);
          checked.set(issuer.fingerprint256, ok);
        }
        return ok;
      },
    };
  } catch (err) {
    if (err instanceof CountersignError && err.code === 'ERR_CRL_INVALID') throw err;
    throw new CountersignError('ERR_CRL_INVALID', `${source}: CRL is not valid DER (${(err as Error).message}); give a PEM or DER X.509 CRL`, { cause: err });
  }
}
