import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chooseCertificate } from '../../src/edge/certificate-choice.js';

const TLS13 = 0x0304, TLS12 = 0x0303;
const ECDSA_P256 = 0x0403, RSA_PSS_RSAE = 0x0804, RSA_PKCS1 = 0x0401, ED25519 = 0x0807;
const ECDHE_ECDSA_GCM = 0xc02b, ECDHE_RSA_GCM = 0xc02f, TLS13_AES128 = 0x1301;

test('TLS 1.3: the first of the client\'s signature algorithms that a certificate can make', () => {
  const hello = (sigs: number[]) => ({ cipherSuites: [TLS13_AES128], signatureAlgorithms: sigs, supportedVersions: [TLS13, TLS12] });
  assert.equal(chooseCertificate(['rsa', 'ec'], hello([ECDSA_P256, RSA_PSS_RSAE])), 1);
  assert.equal(chooseCertificate(['rsa', 'ec'], hello([RSA_PSS_RSAE, ECDSA_P256])), 0);
  assert.equal(chooseCertificate(['ec', 'ed25519'], hello([ED25519])), 1);
});

test('TLS 1.3 never picks RSA for a client that offers only PKCS#1 v1.5 (not allowed in 1.3)', () => {
  const hello = { cipherSuites: [TLS13_AES128], signatureAlgorithms: [RSA_PKCS1, ECDSA_P256], supportedVersions: [TLS13] };
  assert.equal(chooseCertificate(['rsa', 'ec'], hello), 1);
});

test('TLS 1.2: the cipher suite decides the key type', () => {
  const hello = (suites: number[]) => ({ cipherSuites: suites, signatureAlgorithms: [ECDSA_P256, RSA_PKCS1], supportedVersions: [] });
  assert.equal(chooseCertificate(['ec', 'rsa'], hello([ECDHE_RSA_GCM])), 1);
  assert.equal(chooseCertificate(['rsa', 'ec'], hello([ECDHE_ECDSA_GCM])), 1);
  assert.equal(chooseCertificate(['rsa', 'ec'], hello([ECDHE_ECDSA_GCM, ECDHE_RSA_GCM])), 1);
});

test('TLS 1.2 without signature_algorithms: the first certificate a suite allows', () => {
  assert.equal(chooseCertificate(['ec', 'rsa'], { cipherSuites: [ECDHE_RSA_GCM], signatureAlgorithms: [], supportedVersions: [] }), 1);
});

test('a server capped at TLS 1.2 judges a TLS 1.3 client by its suites', () => {
  const hello = { cipherSuites: [TLS13_AES128, ECDHE_RSA_GCM], signatureAlgorithms: [ECDSA_P256, RSA_PSS_RSAE], supportedVersions: [TLS13, TLS12] };
  assert.equal(chooseCertificate(['ec', 'rsa'], hello, TLS12), 1);
  assert.equal(chooseCertificate(['ec', 'rsa'], hello), 0);
});

test('any hello gives an index of the list (0 when nothing fits)', () => {
  const slot = fc.constantFrom('rsa', 'rsa-pss', 'ec', 'ed25519', 'ed448' as const);
  fc.assert(fc.property(fc.array(slot, { minLength: 1, maxLength: 5 }), fc.array(fc.integer({ min: 0, max: 0xffff })), fc.array(fc.integer({ min: 0, max: 0xffff })), fc.array(fc.integer({ min: 0, max: 0xffff })),
    (slots, suites, sigs, versions) => {
      const i = chooseCertificate(slots, { cipherSuites: suites, signatureAlgorithms: sigs, supportedVersions: versions });
      return Number.isInteger(i) && i >= 0 && i < slots.length;
    }));
});
