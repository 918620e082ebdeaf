/**
 * The committed golden vectors (test/vectors/delegation-vectors.json) against
 * the TypeScript library: the Go, Python and Java libraries check themselves
 * against the same file, so all four agree. A change in the TypeScript codec,
 * identifier, path matcher or policy engine that changes a result fails here;
 * regenerate with `npm run vectors` only when the change is intended.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { VECTORS_FILE, authorizeForVector, decodeForVector, identifyForVector, matchForVector, type CertificateCase } from '../vectors/expected.js';
import { DELEGATION_OID } from '../../src/delegation/extension-codec.js';
import { describeCertificate } from '../../src/pki/certificate-info.js';

const v = JSON.parse(readFileSync(VECTORS_FILE, 'utf8'));

test('the vectors hold certificates only, never a private key', () => {
  assert.doesNotMatch(readFileSync(VECTORS_FILE, 'utf8'), /PRIVATE KEY/);
});

test('the vectors use the library\'s default extension OID', () => {
  assert.equal(v.defaultExtensionOid, DELEGATION_OID);
});

test('the look-alike CA has the delegation CA\'s name and another key', () => {
  const real = describeCertificate(new X509Certificate(v.cas.delegation));
  const fake = describeCertificate(new X509Certificate(v.cas.lookalike));
  assert.equal(fake.subject, real.subject);
  assert.notEqual(fake.identity, real.identity);
});

for (const c of v.certificates as CertificateCase[]) {
  test(`certificate vector ${c.name}: ${c.description}`, () => {
    assert.deepEqual(identifyForVector(c, v.cas), c.expect);
  });
}

for (const e of v.extensions as { name: string; der: string; expect: unknown }[]) {
  test(`extension vector ${e.name}`, () => {
    assert.deepEqual(decodeForVector(Buffer.from(e.der, 'hex')), e.expect);
  });
}

test('path.Match vectors', () => {
  for (const p of v.pathMatch as { pattern: string; path: string; expect: unknown }[]) {
    assert.deepEqual(matchForVector(p.pattern, p.path), p.expect, `${p.pattern} ~ ${p.path}`);
  }
});

test('policy vectors', () => {
  for (const r of v.policy.requests as { identity: string; method: string; path: string; expect: unknown }[]) {
    assert.deepEqual(authorizeForVector(v.policy.definition, r.identity, r.method, r.path), r.expect, `${r.method} ${r.path}`);
  }
});
