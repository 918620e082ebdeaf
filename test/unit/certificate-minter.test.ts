import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCaSigner } from '../../src/delegation/ca-signer.js';
import { mintCertificate, neutralSubject, NOT_BEFORE_SKEW_MS } from '../../src/delegation/certificate-minter.js';
import { DELEGATION_OID, decodeDelegationExtension, encodeDelegationExtension } from '../../src/delegation/extension-codec.js';
import { KeyPool } from '../../src/delegation/key-pool.js';
import { describeCertificate, sha1 } from '../../src/pki/certificate-info.js';
import { TAG, bitString, bool, content, explicit, octets, oid, readRoot, seq, smallInt, tlv, x509Time } from '../../src/pki/der.js';
import { issueCertificate, type IssuedCertificate, type KeyAlgorithm } from '../../src/pki/dev/issue-certificate.js';
import { toPem } from '../../src/pki/pem.js';
import { findExtension, OID, parseCertificateFields } from '../../src/pki/x509-fields.js';
import { signingCa, tempDir } from '../helpers/delegation-pki.js';

const run = promisify(execFile);
const pool = new KeyPool({ size: 4 });
let dir: { dir: string; remove: () => Promise<void> };
let alice: IssuedCertificate;
let clientCa: IssuedCertificate;

before(async () => {
  dir = await tempDir();
  clientCa = await issueCertificate({ subject: 'CN=client CA', ca: true });
  alice = await issueCertificate({ subject: 'CN=alice, O=Example, OU=R&D', issuer: clientCa, dnsNames: ['alice.example'], ipAddresses: ['10.0.0.7'] });
});
after(async () => { pool.stop(); await dir.remove(); });

async function mintWith(alg: KeyAlgorithm, opts: { now?: number; ttlMs?: number; embedOriginal?: boolean; namesVouched?: boolean } = {}) {
  const { ca, material } = await signingCa(alg, `CN=delegation CA ${alg}`);
  const minted = mintCertificate(describeCertificate(alice.cert.raw), {
    ca: createCaSigner(material), key: pool.take(), ttlMs: opts.ttlMs ?? 3600_000, now: opts.now, embedOriginal: opts.embedOriginal,
    namesVouched: opts.namesVouched ?? true,
  });
  return { ca, minted, x: new X509Certificate(minted.certDer) };
}

test('the minted certificate copies subject and SAN verbatim and is issued by the CA', async () => {
  const { ca, minted, x } = await mintWith('ec-p256');
  const orig = parseCertificateFields(alice.cert.raw);
  const f = parseCertificateFields(minted.certDer);
  assert.deepEqual(f.subject, orig.subject, 'subject bytes');
  assert.deepEqual(findExtension(f, OID.subjectAltName)?.der, findExtension(orig, OID.subjectAltName)?.der, 'SAN bytes');
  assert.deepEqual(f.issuer, parseCertificateFields(ca.cert.raw).subject, 'issuer = CA subject');
  assert.equal(x.subject, alice.cert.subject);
  assert.equal(x.subjectAltName, 'DNS:alice.example, IP Address:10.0.0.7');
  assert.equal(x.issuer, ca.cert.subject);
  assert.notDeepEqual(f.spki, orig.spki, 'the key is the proxy\'s, not the client\'s');
});

test('names no CA vouched for: the subject is CN=<identity>, no SAN, and the extension says so (names kept there for the backend library)', async () => {
  const { ca, minted, x } = await mintWith('ec-p256', { namesVouched: false });
  const info = describeCertificate(alice.cert.raw);
  const f = parseCertificateFields(minted.certDer);
  assert.equal(x.subject, `CN=${info.identity}`);
  assert.equal(info.identity.length, 64, 'within ub-common-name');
  assert.deepEqual(f.subject, seq(tlv(TAG.SET, seq(oid('2.5.4.3'), tlv(TAG.UTF8_STRING, Buffer.from(info.identity))))), 'one RDN, a UTF8String');
  assert.deepEqual(f.subject, neutralSubject(info.identity));
  assert.equal(findExtension(f, OID.subjectAltName), undefined, 'no copied subjectAltName');
  assert.equal(x.subjectAltName, undefined);
  assert.ok(x.verify(ca.cert.publicKey));
  const d = decodeDelegationExtension(findExtension(f, DELEGATION_OID)!.value);
  assert.equal(d.version, 2);
  assert.equal(d.namesVouched, false);
  assert.equal(d.spkiSha256.toString('hex'), info.identity, 'the identity is unchanged');
  assert.deepEqual(d.subject, info.fields.subject, 'the extension still says what the client claimed');
  const vouched = decodeDelegationExtension(findExtension(parseCertificateFields((await mintWith('ec-p256')).minted.certDer), DELEGATION_OID)!.value);
  assert.equal(vouched.namesVouched, true);
});

test('profile: basicConstraints CA:FALSE and keyUsage digitalSignature are critical, EKU clientAuth', async () => {
  const { minted, x } = await mintWith('ec-p256');
  const f = parseCertificateFields(minted.certDer);
  const bc = findExtension(f, OID.basicConstraints);
  assert.ok(bc?.critical, 'basicConstraints critical');
  assert.equal(bc.value.toString('hex'), '3000', 'CA:FALSE is the empty SEQUENCE');
  assert.equal(x.ca, false);
  const ku = findExtension(f, OID.keyUsage);
  assert.ok(ku?.critical, 'keyUsage critical');
  assert.equal(ku.value.toString('hex'), '03020780', 'digitalSignature only');
  const eku = findExtension(f, OID.extKeyUsage);
  assert.equal(eku?.critical, false);
  assert.deepEqual(x.keyUsage, [OID.clientAuth]);
});

test('profile: SKI is the SHA-1 of the key, AKI is the CA\'s SKI', async () => {
  const { ca, minted } = await mintWith('ec-p256');
  const f = parseCertificateFields(minted.certDer);
  const ski = findExtension(f, OID.subjectKeyIdentifier)!;
  assert.deepEqual(content(ski.value, readRoot(ski.value)), sha1(f.publicKeyBits));
  const caSki = findExtension(parseCertificateFields(ca.cert.raw), OID.subjectKeyIdentifier)!;
  const aki = findExtension(f, OID.authorityKeyIdentifier)!;
  // AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier }
  const keyId = content(caSki.value, readRoot(caSki.value));
  assert.equal(aki.value.toString('hex'), `30${(keyId.length + 2).toString(16).padStart(2, '0')}80${keyId.length.toString(16).padStart(2, '0')}${keyId.toString('hex')}`);
});

test('profile: the serial is a positive 128-bit integer, different each time', async () => {
  const a = await mintWith('ec-p256');
  const b = await mintWith('ec-p256');
  for (const m of [a, b]) {
    const serial = parseCertificateFields(m.minted.certDer).serial;
    assert.equal(serial.length, 16, 'exactly 16 content bytes');
    assert.equal(serial[0] & 0x80, 0, 'positive');
    assert.notEqual(serial[0], 0, 'no padding byte: all 128 bits are significant');
    // the serial the minter reports (audit log) is the certificate's, as OpenSSL prints it
    assert.equal(m.minted.serial, m.x.serialNumber.toUpperCase());
  }
  assert.notEqual(a.x.serialNumber, b.x.serialNumber);
});

test('profile: notBefore is a minute back, notAfter is now + ttl when the original lives longer', async () => {
  const now = Date.parse('2030-06-01T12:00:00.500Z');
  const longLived = await issueCertificate({ subject: 'CN=long', issuer: clientCa, notBefore: new Date('2030-01-01T00:00:00Z'), notAfter: new Date('2035-01-01T00:00:00Z') });
  const { material } = await signingCa('ec-p256');
  const ca = createCaSigner({ ...material });
  const m = mintCertificate(describeCertificate(longLived.cert.raw), { ca: { ...ca, notAfter: new Date('2040-01-01T00:00:00Z') }, key: pool.take(), ttlMs: 3600_000, now, namesVouched: true });
  assert.equal(m.notBefore.toISOString(), '2030-06-01T11:59:00.000Z');
  assert.equal(now - m.notBefore.getTime(), NOT_BEFORE_SKEW_MS + 500);
  assert.equal(m.notAfter.toISOString(), '2030-06-01T13:00:00.000Z');
  const f = parseCertificateFields(m.certDer);
  assert.equal(f.notBefore.toISOString(), m.notBefore.toISOString());
  assert.equal(f.notAfter.toISOString(), m.notAfter.toISOString());
});

test('profile: notAfter is the original notAfter when that comes before now + ttl', async () => {
  const soon = new Date(Math.floor(Date.now() / 1000) * 1000 + 10 * 60_000);
  const shortLived = await issueCertificate({ subject: 'CN=short', issuer: clientCa, notAfter: soon });
  const { material } = await signingCa('ec-p256');
  const m = mintCertificate(describeCertificate(shortLived.cert.raw), { ca: createCaSigner(material), key: pool.take(), ttlMs: 3600_000, namesVouched: true });
  assert.equal(m.notAfter.toISOString(), soon.toISOString());
});

test('the certificate is the profile built element by element, also with multi-byte lengths and GeneralizedTime', async () => {
  // long subject, 40 SANs and an embedded original push every enclosing length past 255
  const big = await issueCertificate({
    subject: `CN=${'m'.repeat(100)}, O=Example`, issuer: clientCa, notAfter: new Date('2060-01-01T00:00:00Z'),
    dnsNames: Array.from({ length: 40 }, (_, i) => `host-${i}.example.com`),
  });
  const info = describeCertificate(big.cert.raw);
  const extensionOid = '1.3.6.1.4.1.55555.1';
  for (const alg of ['ec-p256', 'rsa-2048'] as KeyAlgorithm[]) {
    const { ca: caCert, material } = await signingCa(alg);
    const ca = { ...createCaSigner(material), notAfter: new Date('2070-01-01T00:00:00Z') };
    for (const [embedOriginal, now, namesVouched] of [[false, undefined, true], [true, Date.parse('2055-01-01T00:00:00Z'), true], [true, undefined, false]] as const) {
      const key = pool.take();
      const m = mintCertificate(info, { ca, key, ttlMs: 3600_000, now, embedOriginal, extensionOid, namesVouched });
      const f = parseCertificateFields(m.certDer);
      const tbs = seq(
        explicit(0, smallInt(2)),
        tlv(TAG.INTEGER, f.serial),
        ca.signatureAlgorithm,
        ca.issuerName,
        seq(x509Time(m.notBefore), x509Time(m.notAfter)),
        namesVouched ? info.fields.subject : seq(tlv(TAG.SET, seq(oid('2.5.4.3'), tlv(TAG.UTF8_STRING, Buffer.from(info.identity))))),
        key.spki,
        explicit(3, seq(
          seq(oid(OID.basicConstraints), bool(true), octets(seq())),
          seq(oid(OID.keyUsage), bool(true), octets(bitString(Buffer.from([0x80]), 7))),
          seq(oid(OID.extKeyUsage), octets(seq(oid(OID.clientAuth)))),
          seq(oid(OID.subjectKeyIdentifier), octets(octets(sha1(key.publicKeyBits)))),
          ca.authorityKeyIdExtension,
          ...(namesVouched ? [findExtension(info.fields, OID.subjectAltName)!.der] : []),
          seq(oid(extensionOid), octets(encodeDelegationExtension({
            version: 2,
            certSha256: Buffer.from(info.certSha256, 'hex'),
            spkiSha256: Buffer.from(info.identity, 'hex'),
            certSha1: Buffer.from(info.certSha1, 'hex'),
            subject: info.fields.subject,
            issuer: info.fields.issuer,
            serial: info.fields.serial,
            notAfter: info.notAfter,
            namesVouched,
            certificate: embedOriginal ? info.der : undefined,
          }))),
        )),
      );
      assert.ok(tbs.length > 1000, 'long-form lengths exercised');
      assert.deepEqual(f.tbs, tbs, `${alg}, embedOriginal ${embedOriginal}, namesVouched ${namesVouched}`);
      const signature = content(m.certDer, readRoot(m.certDer)).subarray(tbs.length + ca.signatureAlgorithm.length);
      assert.equal(signature[0], TAG.BIT_STRING);
      assert.deepEqual(m.certDer, seq(tbs, ca.signatureAlgorithm, signature));
      assert.ok(new X509Certificate(m.certDer).verify(caCert.cert.publicKey), 'signature');
      if (now) assert.equal(x509Time(m.notBefore)[0], TAG.GENERALIZED_TIME);
      assert.equal(m.certPem, toPem(m.certDer));
    }
  }
});

test('the delegation extension is non-critical and describes the original', async () => {
  const { minted } = await mintWith('ec-p256', { embedOriginal: true });
  const ext = findExtension(parseCertificateFields(minted.certDer), DELEGATION_OID)!;
  assert.equal(ext.critical, false);
  const d = decodeDelegationExtension(ext.value);
  const info = describeCertificate(alice.cert.raw);
  assert.equal(d.spkiSha256.toString('hex'), info.identity);
  assert.equal(d.certSha256.toString('hex'), info.certSha256);
  assert.equal(d.certSha1.toString('hex').toUpperCase(), info.certSha1);
  assert.deepEqual(d.subject, info.fields.subject);
  assert.deepEqual(d.issuer, info.fields.issuer);
  assert.deepEqual(d.serial, info.fields.serial);
  assert.equal(d.notAfter.getTime(), info.notAfter.getTime());
  assert.deepEqual(d.certificate, Buffer.from(alice.cert.raw));
});

for (const alg of ['ec-p256', 'ec-p384', 'rsa-2048', 'ed25519'] as KeyAlgorithm[]) {
  test(`a ${alg} delegation CA: node verifies the signature and openssl verify -purpose sslclient accepts`, async () => {
    const { ca, minted, x } = await mintWith(alg);
    assert.equal(x.verify(ca.cert.publicKey), true, 'X509Certificate.verify(caPublicKey)');
    assert.equal(x.checkIssued(ca.cert), true);
    const caFile = join(dir.dir, `ca-${alg}.crt`);
    const certFile = join(dir.dir, `minted-${alg}.crt`);
    await writeFile(caFile, ca.certPem);
    await writeFile(certFile, minted.certPem);
    const { stdout } = await run('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', caFile, certFile]);
    assert.equal(stdout.trim(), `${certFile}: OK`);
    const text = (await run('openssl', ['x509', '-in', certFile, '-noout', '-text'])).stdout;
    assert.match(text, new RegExp(`${DELEGATION_OID.replace(/\./g, '\\.')}:`));
    assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /Key Usage: critical\s+Digital Signature/);
  });
}

test('openssl verify refuses a minted certificate against a different CA (the check can fail)', async () => {
  const { minted } = await mintWith('ec-p256');
  const other = await signingCa('ec-p256', 'CN=someone else');
  const caFile = join(dir.dir, 'other-ca.crt');
  const certFile = join(dir.dir, 'minted-other.crt');
  await writeFile(caFile, other.ca.certPem);
  await writeFile(certFile, minted.certPem);
  await assert.rejects(run('openssl', ['verify', '-purpose', 'sslclient', '-CAfile', caFile, certFile]));
});
