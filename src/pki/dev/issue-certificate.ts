/**
 * Certificate issuance for the dev PKI and for tests (forged, expired, odd
 * certificates). Not on the hot path: it uses @peculiar/x509 over WebCrypto.
 * The minter has its own template-based signer (delegation/).
 */
import { createPrivateKey, sign, webcrypto, X509Certificate } from 'node:crypto';
import type * as X509 from '@peculiar/x509';
import { bitString, bool, explicit, octets, oid, raw, readChildren, readRoot, seq } from '../der.js';
import { toPem } from '../pem.js';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type EcKeyGenParams = webcrypto.EcKeyGenParams;
type RsaHashedKeyGenParams = webcrypto.RsaHashedKeyGenParams;
type Algorithm = webcrypto.Algorithm;
type EcdsaParams = webcrypto.EcdsaParams;

// @peculiar/x509 (with reflect-metadata) takes ~0.4 s to load: only the dev PKI and
// tests issue certificates, so the proxy's start-up does not pay for it.
let x509Loaded: Promise<typeof X509> | undefined;
function loadX509(): Promise<typeof X509> {
  return (x509Loaded ??= (async () => {
    await import('reflect-metadata');
    const m = await import('@peculiar/x509');
    m.cryptoProvider.set(webcrypto as unknown as Parameters<typeof m.cryptoProvider.set>[0]);
    return m;
  })());
}

export type KeyAlgorithm = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'ed25519';

export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
  cert: X509Certificate;
  /** WebCrypto private key, kept so this certificate can issue others */
  signingKey: CryptoKey;
  keyAlgorithm: KeyAlgorithm;
}

export interface IssueOptions {
  /** distinguished name, e.g. "CN=alice, O=Example" */
  subject: string;
  /** the issuing CA; absent for a self-signed certificate */
  issuer?: IssuedCertificate;
  /** default ec-p256 */
  keyAlgorithm?: KeyAlgorithm;
  /** basicConstraints CA:TRUE (critical) and keyCertSign/cRLSign */
  ca?: boolean;
  /** leave basicConstraints out entirely (to test CA checks) */
  omitBasicConstraints?: boolean;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** URI subjectAltNames (e.g. SPIFFE IDs) */
  uris?: string[];
  /** email (rfc822Name) subjectAltNames */
  emails?: string[];
  /** extended key usage of a leaf; default 'client' ('ocsp': an OCSP responder's, id-kp-OCSPSigning) */
  usage?: 'server' | 'client' | 'both' | 'ocsp';
  /** default: one minute ago */
  notBefore?: Date;
  /** default: notBefore + 365 days */
  notAfter?: Date;
  extraExtensions?: { oid: string; critical: boolean; value: Uint8Array }[];
  /** CRL distribution points (URIs) where the issuer publishes the CRL that covers this certificate */
  crlUrls?: string[];
  /** OCSP responders (URIs) named in authorityInfoAccess */
  ocspUrls?: string[];
}

function algorithmParams(a: KeyAlgorithm): { gen: EcKeyGenParams | RsaHashedKeyGenParams | Algorithm; sign: Algorithm | EcdsaParams } {
  switch (a) {
    case 'ec-p256': return { gen: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } as EcdsaParams };
    case 'ec-p384': return { gen: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } as EcdsaParams };
    case 'rsa-2048': {
      const gen: RsaHashedKeyGenParams = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
      return { gen, sign: { name: 'RSASSA-PKCS1-v1_5' } };
    }
    case 'ed25519': return { gen: { name: 'Ed25519' }, sign: { name: 'Ed25519' } };
  }
}

export async function issueCertificate(opts: IssueOptions): Promise<IssuedCertificate> {
  const keyAlgorithm = opts.keyAlgorithm ?? 'ec-p256';
  const { gen } = algorithmParams(keyAlgorithm);
  const keys = (await webcrypto.subtle.generateKey(gen as EcKeyGenParams, true, ['sign', 'verify'])) as CryptoKeyPair;
  const notBefore = opts.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + 365 * 86400_000);
  const x509 = await loadX509();
  const extensions: X509.Extension[] = [];
  if (!opts.omitBasicConstraints) extensions.push(new x509.BasicConstraintsExtension(!!opts.ca, undefined, true));
  if (opts.ca) {
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true));
  } else {
    const usage = opts.usage ?? 'client';
    const ku = x509.KeyUsageFlags.digitalSignature | (keyAlgorithm === 'rsa-2048' ? x509.KeyUsageFlags.keyEncipherment : 0);
    extensions.push(new x509.KeyUsagesExtension(ku, true));
    const eku: string[] = [];
    if (usage === 'server' || usage === 'both') eku.push(x509.ExtendedKeyUsage.serverAuth);
    if (usage === 'client' || usage === 'both') eku.push(x509.ExtendedKeyUsage.clientAuth);
    if (usage === 'ocsp') eku.push(x509.ExtendedKeyUsage.ocspSigning);
    extensions.push(new x509.ExtendedKeyUsageExtension(eku));
  }
  const names: X509.JsonGeneralName[] = [
    ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ...(opts.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(opts.emails ?? []).map((value) => ({ type: 'email' as const, value })),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  if (opts.crlUrls?.length) extensions.push(new x509.CRLDistributionPointsExtension(opts.crlUrls));
  if (opts.ocspUrls?.length) extensions.push(new x509.AuthorityInfoAccessExtension({ ocsp: opts.ocspUrls.map((value) => new x509.GeneralName('url', value)) }));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey));
  if (opts.issuer) {
    const issuerCert = new x509.X509Certificate(opts.issuer.cert.raw);
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuerCert));
  }
  const patched = (opts.extraExtensions ?? []).filter((e) => hasHugeArc(e.oid));
  for (const e of opts.extraExtensions ?? []) if (!hasHugeArc(e.oid)) extensions.push(new x509.Extension(e.oid, e.critical, e.value));

  const signingKey = opts.issuer ? opts.issuer.signingKey : keys.privateKey;
  const signAlg = algorithmParams(opts.issuer ? opts.issuer.keyAlgorithm : keyAlgorithm).sign;
  const serial = Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)));
  serial[0] &= 0x7f;
  if (serial[0] === 0) serial[0] = 1;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString('hex'),
    subject: opts.subject,
    issuer: opts.issuer ? opts.issuer.cert.subject.split('\n').join(', ') : opts.subject,
    notBefore,
    notAfter,
    signingAlgorithm: signAlg,
    publicKey: keys.publicKey,
    signingKey,
    extensions,
  });
  let der: Buffer = Buffer.from(cert.rawData);
  if (patched.length) {
    const issuerAlgorithm = opts.issuer ? opts.issuer.keyAlgorithm : keyAlgorithm;
    der = await appendExtensions(der, patched, signingKey, issuerAlgorithm);
  }
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return {
    certPem: toPem(der),
    keyPem: toPem(pkcs8, 'PRIVATE KEY'),
    cert: new X509Certificate(der),
    signingKey: keys.privateKey,
    keyAlgorithm,
  };
}

/**
 * asn1js reads an OID arc above 2^53 back as "{hex}" and re-encodes it as a
 * different OID (the UUID arc of the delegation OID becomes "2.25"), and
 * @peculiar/x509 round-trips extensions through it. Such extensions are
 * appended to the generated TBS with pki/der and the certificate re-signed.
 */
function hasHugeArc(dotted: string): boolean {
  return dotted.split('.').some((arc) => BigInt(arc) > BigInt(Number.MAX_SAFE_INTEGER));
}

async function appendExtensions(certDer: Buffer, extra: { oid: string; critical: boolean; value: Uint8Array }[], signingKey: CryptoKey, alg: KeyAlgorithm): Promise<Buffer> {
  const [tbsT, sigAlgT] = readChildren(certDer, readRoot(certDer));
  const parts = readChildren(certDer, tbsT).map((t) => (t.tag === 0xa3 ? t : raw(certDer, t)));
  const encoded = extra.map((e) => seq(oid(e.oid), ...(e.critical ? [bool(true)] : []), octets(e.value)));
  const i = parts.findIndex((p) => !Buffer.isBuffer(p));
  if (i === -1) {
    parts.push(explicit(3, seq(...encoded)));
  } else {
    const t = parts[i] as Exclude<(typeof parts)[number], Buffer>;
    const [list] = readChildren(certDer, t);
    parts[i] = explicit(3, seq(...readChildren(certDer, list).map((x) => raw(certDer, x)), ...encoded));
  }
  const tbs = seq(...(parts as Buffer[]));
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', signingKey));
  const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const digest = alg === 'ec-p384' ? 'sha384' : alg === 'ed25519' ? null : 'sha256';
  return seq(tbs, raw(certDer, sigAlgT), bitString(sign(digest, tbs, key)));
}
