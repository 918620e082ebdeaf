/**
 * Writes test/vectors/delegation-vectors.json: the golden vectors that the
 * TypeScript backend library and the Go, Python and Java libraries
 * (backends/<lang>/) all read, so the codecs cannot drift.
 *
 *   npm run vectors      (= tsc, then node dist/test/vectors/generate.js)
 *
 * Certificates only: the keys are generated here, used, and dropped — no
 * private key is ever written. Expected results are what the TypeScript code
 * computes (countersign/backend's identifier, extension codec, path matcher and
 * policy engine); test/unit/backend-vectors.test.ts re-checks them against the
 * TypeScript library on every run, and each language checks itself against them.
 *
 * Times: everything is valid from the generation time until 2126, and each case
 * says the `now` it is judged at, so the vectors never expire in CI.
 */
import { writeFileSync } from 'node:fs';
import { issueCertificate, type IssuedCertificate, type KeyAlgorithm } from '../../src/pki/dev/index.js';
import { loadKeyMaterial, loadSigningCa } from '../../src/pki/key-material.js';
import { describeCertificate } from '../../src/pki/certificate-info.js';
import { TAG, generalizedTime, implicitPrimitive, octets, seq, smallInt, tlv } from '../../src/pki/der.js';
import { createCaSigner, type CaSigner } from '../../src/delegation/ca-signer.js';
import { mintCertificate } from '../../src/delegation/certificate-minter.js';
import { KeyPool } from '../../src/delegation/key-pool.js';
import { DELEGATION_OID, encodeDelegationExtension, type DelegationExtension } from '../../src/delegation/extension-codec.js';
import type { PolicyEngineOptions } from '../../src/backend/policy.js';
import { ALICE_PEM } from '../helpers/golden-certificates.js';
import { VECTORS_FILE, authorizeForVector, decodeForVector, identifyForVector, matchForVector, type CertificateCase } from './expected.js';

const FAR = new Date('2126-01-01T00:00:00Z');

async function ca(subject: string, keyAlgorithm: KeyAlgorithm = 'ec-p256'): Promise<{ issued: IssuedCertificate; signer: CaSigner }> {
  const issued = await issueCertificate({ subject, ca: true, keyAlgorithm, notAfter: FAR });
  return { issued, signer: createCaSigner(loadSigningCa({ certPem: issued.certPem, keyPem: issued.keyPem, what: subject })) };
}

function extensionFor(original: IssuedCertificate, patch: Partial<DelegationExtension> = {}): Buffer {
  const o = describeCertificate(original.cert);
  return encodeDelegationExtension({
    version: 2,
    namesVouched: true,
    certSha256: Buffer.from(o.certSha256, 'hex'),
    spkiSha256: Buffer.from(o.identity, 'hex'),
    certSha1: Buffer.from(o.certSha1, 'hex'),
    subject: o.fields.subject, issuer: o.fields.issuer, serial: o.fields.serial, notAfter: o.fields.notAfter,
    ...patch,
  });
}

async function main(): Promise<void> {
  const generated = new Date(Math.floor(Date.now() / 1000) * 1000);
  const now = new Date(generated.getTime() + 3600_000).toISOString(); // inside every minted certificate's lifetime
  const ttlMs = FAR.getTime() - generated.getTime(); // minted certificates live as long as the originals
  const delegation = await ca('CN=countersign delegation CA, O=Example');
  // same name (and, in the forgery, the same authority key id) as the delegation CA; another key
  const lookalike = await ca('CN=countersign delegation CA, O=Example');
  const rsa = await ca('CN=countersign delegation CA (RSA), O=Example', 'rsa-2048');
  const p384 = await ca('CN=countersign delegation CA (P-384), O=Example', 'ec-p384');
  const ed25519 = await ca('CN=countersign delegation CA (Ed25519), O=Example', 'ed25519');
  const clientCa = await issueCertificate({ subject: 'CN=client CA, O=Example', ca: true, notAfter: FAR });
  const alice = await issueCertificate({ subject: 'CN=alice, O=Example', issuer: clientCa, dnsNames: ['alice.example'], notAfter: FAR });
  const bob = await issueCertificate({ subject: 'CN=bob, O=Example', issuer: clientCa, notAfter: FAR });
  const rsaClient = await issueCertificate({ subject: 'CN=carol, OU=R\\+D, O=Example', issuer: clientCa, keyAlgorithm: 'rsa-2048', notAfter: FAR });
  // what a client in clientAuth mode any may present: a self-signed certificate naming itself root
  const selfNamedRoot = await issueCertificate({ subject: 'CN=root, O=system:masters', dnsNames: ['root.example'], notAfter: FAR });

  // a per-instance intermediate under a pinned root (delegation.ca holds the intermediate and the root)
  const root = await ca('CN=countersign delegation root, O=Example');
  const intermediate = await issueCertificate({ subject: 'CN=countersign instance 1, O=Example', issuer: root.issued, ca: true, notAfter: FAR });
  const intermediateSigner = createCaSigner(loadSigningCa({ certPem: intermediate.certPem + root.issued.certPem, keyPem: intermediate.keyPem, what: 'intermediate' }));
  const lookalikeRoot = await ca('CN=countersign delegation root, O=Example');
  const lookalikeIntermediate = await issueCertificate({ subject: 'CN=countersign instance 1, O=Example', issuer: lookalikeRoot.issued, ca: true, notAfter: FAR });
  const lookalikeIntermediateSigner = createCaSigner(loadSigningCa({ certPem: lookalikeIntermediate.certPem, keyPem: lookalikeIntermediate.keyPem, what: 'lookalike intermediate' }));
  const leafUnderRoot = await issueCertificate({ subject: 'CN=countersign instance 1, O=Example', issuer: root.issued, notAfter: FAR });
  const leafSigner = createCaSigner(loadKeyMaterial({ certPem: leafUnderRoot.certPem, keyPem: leafUnderRoot.keyPem, what: 'leaf' }));

  const pool = new KeyPool({ size: 0 });
  const mint = (signer: CaSigner, who: IssuedCertificate, extra: { embedOriginal?: boolean; extensionOid?: string; namesVouched?: boolean } = {}) =>
    mintCertificate(describeCertificate(who.cert), { ca: signer, key: pool.take(), ttlMs, now: generated.getTime(), namesVouched: true, ...extra }).certPem;
  const byDelegationCa = (who: IssuedCertificate, value: Buffer | undefined) => issueCertificate({
    subject: who.cert.subject.split('\n').join(', '), issuer: delegation.issued, notAfter: FAR,
    extraExtensions: value ? [{ oid: DELEGATION_OID, critical: false, value }] : [],
  }).then((c) => c.certPem);

  const cas: Record<string, string> = {
    delegation: delegation.issued.certPem,
    lookalike: lookalike.issued.certPem,
    rsa: rsa.issued.certPem,
    p384: p384.issued.certPem,
    ed25519: ed25519.issued.certPem,
    client: clientCa.certPem,
    aliceLeaf: alice.certPem,
    root: root.issued.certPem,
    intermediate: intermediate.certPem,
  };
  const genuine = extensionFor(alice);
  const flipped = Buffer.from(genuine);
  flipped[flipped.length - 3] ^= 0xff; // inside the GeneralizedTime digits
  const truncated = genuine.subarray(0, genuine.length - 1);
  const v3 = Buffer.from(genuine);
  v3[v3.length > 127 + 2 ? 5 : 4] = 3; // 30 81 LL | 02 01 [02]
  const v1 = extensionFor(alice, { version: 1, namesVouched: false });
  const originalExpired = extensionFor(alice, { notAfter: new Date(generated.getTime() - 86400_000) });
  const wrongEmbedded = extensionFor(alice, { certificate: Buffer.from(bob.cert.raw) });

  type Draft = Omit<CertificateCase, 'expect' | 'now' | 'allowDirect' | 'delegationCAs'> & Partial<Pick<CertificateCase, 'now' | 'allowDirect' | 'delegationCAs'>>;
  const drafts: Draft[] = [
    { name: 'delegated-alice', description: 'minted for alice by the delegation CA (ECDSA P-256)', cert: mint(delegation.signer, alice) },
    { name: 'delegated-alice-embedded', description: 'minted with delegation.embedOriginal: the extension carries the original certificate', cert: mint(delegation.signer, alice, { embedOriginal: true }) },
    { name: 'delegated-bob', description: 'minted for bob', cert: mint(delegation.signer, bob) },
    {
      name: 'delegated-names-not-vouched',
      description: 'minted in clientAuth mode any for a self-signed "CN=root, O=system:masters" that no client CA issued: subject CN=<identity>, no SAN; the extension keeps the claimed names and says namesVouched FALSE',
      cert: mint(delegation.signer, selfNamedRoot, { namesVouched: false }),
    },
    { name: 'delegated-names-not-vouched-embedded', description: 'the same with the original embedded', cert: mint(delegation.signer, selfNamedRoot, { namesVouched: false, embedOriginal: true }) },
    { name: 'delegated-v1-extension', description: 'a version 1 extension (a proxy from before namesVouched): read, with namesVouched false (it cannot say)', cert: await byDelegationCa(alice, v1) },
    { name: 'delegated-carol-rsa-client', description: 'an RSA client certificate with an escaped "+" in its subject, minted by the P-256 CA', cert: mint(delegation.signer, rsaClient) },
    { name: 'delegated-by-rsa-ca', description: 'minted by an RSA-2048 delegation CA (PKCS#1 v1.5, SHA-256)', cert: mint(rsa.signer, alice), delegationCAs: ['rsa'] },
    { name: 'delegated-by-p384-ca', description: 'minted by an ECDSA P-384 delegation CA', cert: mint(p384.signer, alice), delegationCAs: ['p384'] },
    { name: 'delegated-by-ed25519-ca', description: 'minted by an Ed25519 delegation CA', cert: mint(ed25519.signer, alice), delegationCAs: ['ed25519'] },
    { name: 'delegated-second-of-two-cas', description: 'two delegation CAs pinned; the second signed it, and is named as the proxy', cert: mint(rsa.signer, bob), delegationCAs: ['delegation', 'rsa'] },
    { name: 'delegated-custom-oid', description: 'proxy and backend both configured with another extension OID', cert: mint(delegation.signer, alice, { extensionOid: '1.3.6.1.4.1.55555.1.1' }), extensionOid: '1.3.6.1.4.1.55555.1.1' },
    { name: 'delegated-other-oid-configured', description: 'the backend expects another OID than the proxy wrote: the delegation CA issued a certificate without "the" extension', cert: mint(delegation.signer, alice), extensionOid: '1.3.6.1.4.1.55555.1.1' },
    {
      name: 'forged-lookalike-ca',
      description: 'a genuine-looking extension for alice in a certificate from a CA with the delegation CA\'s name and authority key id, but another key: pinned by key, refused',
      cert: mint({ ...lookalike.signer, authorityKeyIdExtension: delegation.signer.authorityKeyIdExtension }, alice),
    },
    { name: 'forged-lookalike-ca-allow-direct', description: 'the same forgery with allowDirect: still refused, never taken for a direct client', cert: mint({ ...lookalike.signer, authorityKeyIdExtension: delegation.signer.authorityKeyIdExtension }, alice), allowDirect: true },
    {
      name: 'forged-client-ca',
      description: 'alice\'s extension copied into a certificate that the client CA (trusted by TLS for direct clients) issued to bob',
      cert: await issueCertificate({ subject: 'CN=bob, O=Example', issuer: clientCa, notAfter: FAR, extraExtensions: [{ oid: DELEGATION_OID, critical: false, value: genuine }] }).then((c) => c.certPem),
      allowDirect: true,
    },
    { name: 'corrupted-extension-flipped', description: 'signed by the delegation CA; one byte of the extension flipped (an invalid notAfter)', cert: await byDelegationCa(alice, flipped) },
    { name: 'corrupted-extension-truncated', description: 'signed by the delegation CA; the extension lost its last byte', cert: await byDelegationCa(alice, truncated) },
    { name: 'unknown-version', description: 'signed by the delegation CA; the extension says version 3', cert: await byDelegationCa(alice, v3) },
    { name: 'embedded-mismatch', description: 'the embedded certificate is bob\'s, certSha256 is alice\'s', cert: await byDelegationCa(alice, wrongEmbedded) },
    { name: 'original-expired', description: 'the extension says the original certificate expired yesterday', cert: await byDelegationCa(alice, originalExpired) },
    { name: 'missing-extension', description: 'signed by the delegation CA, but without the extension', cert: await byDelegationCa(alice, undefined) },
    { name: 'minted-not-yet-valid', description: 'a minted certificate judged before its notBefore', cert: mint(delegation.signer, alice), now: new Date(generated.getTime() - 3600_000).toISOString() },
    { name: 'minted-expired', description: 'a minted certificate judged after it (and everything else) expired', cert: mint(delegation.signer, alice), now: '2126-06-01T00:00:00.000Z' },
    { name: 'delegated-via-intermediate', description: 'minted by a per-instance intermediate that the peer sends after its certificate; the root is pinned and named as the proxy', cert: mint(intermediateSigner, alice), chain: [intermediate.certPem], delegationCAs: ['root'] },
    { name: 'intermediate-pinned-directly', description: 'minted by an intermediate that is itself pinned; nothing else sent', cert: mint(intermediateSigner, bob), delegationCAs: ['intermediate'] },
    { name: 'intermediate-not-sent', description: 'minted by an intermediate under the pinned root, but the peer did not send the intermediate', cert: mint(intermediateSigner, alice), delegationCAs: ['root'] },
    { name: 'intermediate-from-lookalike-root', description: 'an intermediate with the genuine names, under a root with the pinned root\'s name and another key', cert: mint(lookalikeIntermediateSigner, alice), chain: [lookalikeIntermediate.certPem, lookalikeRoot.issued.certPem], delegationCAs: ['root'] },
    { name: 'intermediate-genuine-but-not-the-signer', description: 'the genuine intermediate is sent, but a look-alike with its name signed the certificate', cert: mint(lookalikeIntermediateSigner, alice), chain: [intermediate.certPem], delegationCAs: ['root'] },
    { name: 'intermediate-not-a-ca', description: 'the certificate was signed by a leaf (CA:FALSE) that the pinned root issued', cert: mint(leafSigner, alice), chain: [leafUnderRoot.certPem], delegationCAs: ['root'] },
    { name: 'direct-refused', description: 'alice connects directly; allowDirect is off', cert: alice.certPem },
    { name: 'direct-allowed', description: 'alice connects directly; allowDirect is on', cert: alice.certPem, allowDirect: true },
    { name: 'direct-golden-name', description: 'a certificate made with openssl: multi-valued RDN and escaped characters', cert: ALICE_PEM, allowDirect: true, now: '2027-01-01T00:00:00.000Z' },
    { name: 'direct-only-no-cas', description: 'no delegation CAs, allowDirect: bob is a direct client', cert: bob.certPem, allowDirect: true, delegationCAs: [] },
    { name: 'config-leaf-as-ca', description: 'a leaf configured as the delegation CA is a configuration error', cert: alice.certPem, delegationCAs: ['aliceLeaf'] },
    { name: 'config-nothing-identifiable', description: 'no delegation CA and no allowDirect: a configuration error', cert: alice.certPem, delegationCAs: [] },
  ];
  const certificates: CertificateCase[] = drafts.map((d) => {
    const c = { allowDirect: false, delegationCAs: ['delegation'], now, ...d };
    return { ...c, expect: identifyForVector(c, cas) };
  });

  // ---- the extension alone ----
  const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
  const SUBJECT = hex('3010 310e 300c 0603 550403 0c05 616c696365');
  const ISSUER = hex('300d 310b 3009 0603 550403 0c02 6361');
  const fields: DelegationExtension = {
    version: 1, certSha256: Buffer.alloc(32, 0xaa), spkiSha256: Buffer.alloc(32, 0xbb), certSha1: Buffer.alloc(20, 0xcc),
    subject: SUBJECT, issuer: ISSUER, serial: hex('0102'), notAfter: new Date('2126-10-30T05:45:13Z'), namesVouched: false,
  };
  const golden = encodeDelegationExtension(fields);
  const embedded = encodeDelegationExtension({ ...fields, certificate: hex('3003020105') });
  const body = golden.subarray(3 + 3); // after 30 81 LL and 02 01 01
  // version 2: namesVouched BOOLEAN after notAfter
  const v2Vouched = encodeDelegationExtension({ ...fields, version: 2, namesVouched: true });
  const v2Unvouched = encodeDelegationExtension({ ...fields, version: 2, namesVouched: false });
  const v2Embedded = encodeDelegationExtension({ ...fields, version: 2, namesVouched: false, certificate: hex('3003020105') });
  /** the v1 fields after version 1, with `version` and `tail` (namesVouched, certificate) as given */
  const withVersion = (version: number, ...tail: Buffer[]) => seq(smallInt(version), body, ...tail);
  const extDrafts: { name: string; der: Buffer }[] = [
    { name: 'golden', der: golden },
    { name: 'golden-embedded', der: embedded },
    { name: 'v2-names-vouched', der: v2Vouched },
    { name: 'v2-names-not-vouched', der: v2Unvouched },
    { name: 'v2-embedded', der: v2Embedded },
    { name: 'v2-without-names-vouched', der: withVersion(2) },
    { name: 'v2-without-names-vouched-embedded', der: withVersion(2, implicitPrimitive(0, hex('3003020105'))) },
    { name: 'v2-names-vouched-not-der-true', der: withVersion(2, hex('010101')) },
    { name: 'v2-names-vouched-two-bytes', der: withVersion(2, hex('010200ff')) },
    { name: 'v2-names-vouched-empty', der: withVersion(2, hex('0100')) },
    { name: 'v2-names-vouched-wrong-tag', der: withVersion(2, hex('020101')) },
    { name: 'v2-names-vouched-after-certificate', der: withVersion(2, implicitPrimitive(0, hex('3003020105')), hex('0101ff')) },
    { name: 'v2-names-vouched-twice', der: withVersion(2, hex('0101ff'), hex('0101ff')) },
    { name: 'v1-with-names-vouched', der: withVersion(1, hex('0101ff')) },
    { name: 'genuine-alice', der: genuine },
    { name: 'serial-negative', der: encodeDelegationExtension({ ...fields, serial: hex('ff01') }) },
    { name: 'serial-leading-zero', der: encodeDelegationExtension({ ...fields, serial: hex('0080') }) },
    { name: 'notafter-2400', der: encodeDelegationExtension({ ...fields, notAfter: new Date('2400-02-29T23:59:59Z') }) },
    { name: 'version-3', der: seq(smallInt(3), body, hex('0101ff')) },
    { name: 'version-3-other-layout', der: seq(smallInt(3), octets(Buffer.alloc(3))) },
    { name: 'version-0', der: seq(smallInt(0), body) },
    { name: 'version-negative', der: seq(tlv(TAG.INTEGER, hex('ff')), body) },
    { name: 'version-256', der: seq(tlv(TAG.INTEGER, hex('0100')), body) },
    { name: 'version-huge', der: seq(tlv(TAG.INTEGER, hex('0102030405060708090a')), body) },
    { name: 'version-non-minimal', der: seq(hex('02020001'), body) },
    { name: 'version-empty', der: seq(hex('0200'), body) },
    { name: 'version-wrong-tag', der: seq(hex('0a0101'), body) },
    { name: 'trailing-byte', der: Buffer.concat([golden, hex('00')]) },
    { name: 'not-a-sequence', der: hex('0403010203') },
    { name: 'empty-sequence', der: hex('3000') },
    { name: 'empty-input', der: Buffer.alloc(0) },
    { name: 'set-instead-of-sequence', der: Buffer.concat([hex('31'), golden.subarray(1)]) },
    { name: 'indefinite-length', der: Buffer.concat([hex('3080'), golden.subarray(3), hex('0000')]) },
    { name: 'non-minimal-length', der: Buffer.concat([hex('3082'), Buffer.from([0, golden.length - 3]), golden.subarray(3)]) },
    { name: 'cert-sha256-31-bytes', der: seq(smallInt(1), octets(Buffer.alloc(31)), golden.subarray(3 + 3 + 34)) },
    { name: 'spki-sha256-33-bytes', der: seq(smallInt(1), octets(Buffer.alloc(32)), octets(Buffer.alloc(33)), golden.subarray(3 + 3 + 34 + 34)) },
    { name: 'cert-sha1-32-bytes', der: encodeRawFields({ certSha1: octets(Buffer.alloc(32)) }) },
    { name: 'seven-fields', der: seq(smallInt(1), octets(Buffer.alloc(32)), octets(Buffer.alloc(32)), octets(Buffer.alloc(20)), SUBJECT, ISSUER, hex('020101')) },
    { name: 'ten-fields', der: Buffer.concat([hex('3081'), Buffer.from([embedded.length - 3 + 2]), embedded.subarray(3), hex('0500')]) },
    { name: 'notafter-utctime', der: encodeRawFields({ notAfter: Buffer.concat([hex('170d'), Buffer.from('300102030405Z')]) }) },
    { name: 'notafter-fraction', der: encodeRawFields({ notAfter: tlv(TAG.GENERALIZED_TIME, Buffer.from('21261030054513.5Z')) }) },
    { name: 'notafter-no-z', der: encodeRawFields({ notAfter: tlv(TAG.GENERALIZED_TIME, Buffer.from('21261030054513')) }) },
    { name: 'notafter-month-13', der: encodeRawFields({ notAfter: tlv(TAG.GENERALIZED_TIME, Buffer.from('21261330054513Z')) }) },
    { name: 'notafter-feb-30', der: encodeRawFields({ notAfter: tlv(TAG.GENERALIZED_TIME, Buffer.from('21250230054513Z')) }) },
    { name: 'notafter-hour-24', der: encodeRawFields({ notAfter: tlv(TAG.GENERALIZED_TIME, Buffer.from('21261030244513Z')) }) },
    { name: 'serial-empty', der: encodeRawFields({ serial: hex('0200') }) },
    { name: 'serial-wrong-tag', der: encodeRawFields({ serial: hex('040101') }) },
    { name: 'subject-not-a-sequence', der: encodeRawFields({ subject: hex('0c05616c696365') }) },
    { name: 'subject-bad-inner-der', der: encodeRawFields({ subject: hex('3003 3105 00') }) },
    { name: 'certificate-constructed-tag', der: Buffer.concat([embedded.subarray(0, embedded.length - 7), hex('a005 3003020105')]) },
    { name: 'certificate-wrong-tag', der: Buffer.concat([embedded.subarray(0, embedded.length - 7), hex('8105 3003020105')]) },
    { name: 'high-tag-number', der: Buffer.concat([hex('3081'), Buffer.from([golden.length - 3 + 3]), golden.subarray(3), hex('1f0100')]) },
  ];
  for (let n = 0; n < golden.length; n += 7) extDrafts.push({ name: `truncated-${n}`, der: golden.subarray(0, n) });
  const extensions = extDrafts.map((e) => ({ name: e.name, der: e.der.toString('hex'), expect: decodeForVector(e.der) }));

  /** The golden SEQUENCE with some fields swapped for raw DER. */
  function encodeRawFields(swap: Partial<Record<'certSha1' | 'subject' | 'serial' | 'notAfter', Buffer>>): Buffer {
    return seq(smallInt(1), octets(fields.certSha256), octets(fields.spkiSha256), swap.certSha1 ?? octets(fields.certSha1),
      swap.subject ?? SUBJECT, ISSUER, swap.serial ?? tlv(TAG.INTEGER, fields.serial), swap.notAfter ?? generalizedTime(fields.notAfter));
  }

  // ---- Go's path.Match ----
  const patternPairs: [string, string][] = [
    ['/v1/key/create/*', '/v1/key/create/my-key'], ['/v1/key/create/*', '/v1/key/create/a/b'], ['/v1/key/create/*', '/v1/key/create/'],
    ['/v1/key/*/my-app-*', '/v1/key/generate/my-app-1'], ['/v1/key/*/my-app-*', '/v1/key/generate/other'],
    ['/v1/status', '/v1/status'], ['/v1/status', '/v1/status/'], ['/v1/*', '/v1'], ['/v1/?', '/v1/a'], ['/v1/?', '/v1/ab'], ['/v1/?', '/v1//'],
    ['/v1/[a-c]x', '/v1/bx'], ['/v1/[a-c]x', '/v1/dx'], ['/v1/[^a-c]x', '/v1/dx'], ['/v1/[^a-c]x', '/v1/ax'], ['/v1/[^a-c]x', '/v1//x'],
    ['/v1/[\\]]', '/v1/]'], ['/v1/[\\-]', '/v1/-'], ['/v1/\\*', '/v1/*'], ['/v1/\\*', '/v1/x'], ['/v1/a\\', '/v1/a'],
    ['/v1/[', '/v1/['], ['/v1/[a-', '/v1/a'], ['/v1/[]a]', '/v1/]'], ['/v1/[-]', '/v1/-'], ['/v1/[z-a]', '/v1/m'], ['/v1/[z-a]x', '/v1/x'],
    ['/v1/é*', '/v1/école'], ['/v1/?cole', '/v1/école'], ['/v1/[à-ü]', '/v1/é'], ['/v1/**', '/v1/anything'], ['/v1/*/*', '/v1/a/b'],
    ['/*', '/'], ['/v1/key/list/*', '/v1/key/list/*'], ['/v1/[a-z', '/v1/a'], ['/v1/[!a]', '/v1/b'], ['/v1/a[', '/v1/b'],
  ];
  const pathMatch = patternPairs.map(([pattern, path]) => ({ pattern, path, expect: matchForVector(pattern, path) }));

  // ---- the policy engine ----
  const A = describeCertificate(alice.cert).identity;
  const B = describeCertificate(bob.cert).identity;
  const C = describeCertificate(rsaClient.cert).identity;
  const D = 'dd'.repeat(32);
  const engine: PolicyEngineOptions = {
    policies: {
      app: { allow: ['/v1/key/*/my-app-*', 'GET /v1/status'], deny: ['/v1/key/delete/*'], identities: [A] },
      readonly: { allow: ['/v1/key/*/*'], deny: ['/v1/key/create/*', 'POST /v1/key/*/*'], identities: [B] },
      nothing: { identities: [C] },
    },
    disabled: [D],
  };
  const requests: [string, string, string][] = [
    [A, 'POST', '/v1/key/create/my-app-1'], [A, 'POST', '/v1/key/delete/my-app-1'], [A, 'GET', '/v1/key/create/other'],
    [A, 'GET', '/v1/status'], [A, 'get', '/v1/status'], [A, 'POST', '/v1/status'], [A.toUpperCase(), 'POST', '/v1/key/create/my-app-2'],
    [B, 'GET', '/v1/key/list/x'], [B, 'GET', '/v1/key/create/my-key'], [B, 'POST', '/v1/key/list/x'],
    [C, 'GET', '/v1/status'], [D, 'GET', '/v1/status'], ['ee'.repeat(32), 'GET', '/v1/status'],
  ];
  const policy = {
    definition: engine,
    requests: requests.map(([identity, method, path]) => ({ identity, method, path, expect: authorizeForVector(engine, identity, method, path) })),
  };

  const out = {
    comment: 'Generated by test/vectors/generate.ts (npm run vectors) from the TypeScript library; certificates only, no private keys. Read by test/unit/backend-vectors.test.ts and backends/{go,python,java}.',
    generated: generated.toISOString(),
    defaultExtensionOid: DELEGATION_OID,
    cas,
    certificates,
    extensions,
    pathMatch,
    policy,
  };
  writeFileSync(VECTORS_FILE, JSON.stringify(out, null, 2) + '\n');
  pool.stop();
  console.log(`wrote ${VECTORS_FILE}: ${certificates.length} certificates, ${extensions.length} extensions, ${pathMatch.length} patterns, ${requests.length} policy requests`);
}

await main();
