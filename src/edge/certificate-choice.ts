/**
 * Which of a name's certificates (one per key type) a client can use, decided
 * from its ClientHello.
 *
 * OpenSSL makes this choice itself when one context holds several certificates,
 * but Node hands a context chosen by SNICallback to OpenSSL with only its last
 * certificate (nodejs/node#54235; with OpenSSL 3.5 in Node 24 the others are
 * gone, where Node 20's OpenSSL 3.0 still kept the default context's). So the
 * edge reads the ClientHello first and gives SNICallback a context with the one
 * certificate this client can verify.
 */
import type { ClientHello } from './client-hello.js';
import type { KeySlot } from './server-certificate.js';

const TLS13 = 0x0304;

/** signature_algorithms code points (RFC 8446 §4.2.3) by the key type that can make them */
const SIGALGS: Record<KeySlot, { tls13: number[]; tls12: number[] }> = {
  // ecdsa_secp256r1_sha256 … secp521r1_sha512, brainpool (RFC 8734); ecdsa_sha1 only in 1.2
  ec: { tls13: [0x0403, 0x0503, 0x0603, 0x081a, 0x081b, 0x081c], tls12: [0x0403, 0x0503, 0x0603, 0x0203, 0x081a, 0x081b, 0x081c] },
  // rsa_pss_rsae_*; PKCS#1 v1.5 is not allowed for a TLS 1.3 CertificateVerify
  rsa: { tls13: [0x0804, 0x0805, 0x0806], tls12: [0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0201] },
  'rsa-pss': { tls13: [0x0809, 0x080a, 0x080b], tls12: [0x0809, 0x080a, 0x080b] },
  ed25519: { tls13: [0x0807], tls12: [0x0807] },
  ed448: { tls13: [0x0808], tls12: [0x0808] },
};

/** TLS 1.2 suites authenticated by an ECDSA (or EdDSA) key: ECDHE_ECDSA_* */
const ECDSA_SUITES = new Set([
  0xc02b, 0xc02c, 0xcca9, 0xc023, 0xc024, 0xc009, 0xc00a, 0xc0ac, 0xc0ad, 0xc0ae, 0xc0af, 0xc072, 0xc073, 0xc086, 0xc087,
]);
/** TLS 1.2 suites authenticated by an RSA key: ECDHE_RSA_*, DHE_RSA_*, and RSA key exchange */
const RSA_SUITES = new Set([
  0xc02f, 0xc030, 0xcca8, 0xc027, 0xc028, 0xc013, 0xc014, 0x009e, 0x009f, 0xccaa, 0x0067, 0x006b, 0x0033, 0x0039,
  0x009c, 0x009d, 0x003c, 0x003d, 0x002f, 0x0035, 0xc09c, 0xc09d, 0xc09e, 0xc09f, 0xc0a0, 0xc0a1, 0xc0a2, 0xc0a3,
]);

function suiteAllows(slot: KeySlot, suites: number[]): boolean {
  const set = slot === 'rsa' || slot === 'rsa-pss' ? RSA_SUITES : ECDSA_SUITES;
  return suites.some((s) => set.has(s));
}

/**
 * The index in `slots` of the certificate to serve: the first one, in the
 * client's order of signature algorithms, that it can verify over the version
 * it will get (TLS 1.3 when it offers it; 1.2 also needs a cipher suite for the
 * key type). When nothing fits, 0: the handshake then fails as it would have.
 */
export function chooseCertificate(slots: readonly KeySlot[], hello: Pick<ClientHello, 'cipherSuites' | 'signatureAlgorithms' | 'supportedVersions'>, maxVersion = TLS13): number {
  if (slots.length < 2) return 0;
  const tls13 = maxVersion >= TLS13 && hello.supportedVersions.includes(TLS13);
  const usable = slots.map((slot) => tls13 || suiteAllows(slot, hello.cipherSuites));
  if (hello.signatureAlgorithms.length === 0) {
    // A TLS 1.2 client without the extension accepts SHA-1 with its suite's key type.
    const i = usable.findIndex(Boolean);
    return i < 0 ? 0 : i;
  }
  for (const alg of hello.signatureAlgorithms) {
    const i = slots.findIndex((slot, k) => usable[k] && SIGALGS[slot][tls13 ? 'tls13' : 'tls12'].includes(alg));
    if (i >= 0) return i;
  }
  return 0;
}
