/**
 * Test PKI for the delegation core and the backend library: a delegation CA,
 * a client CA with alice and bob, a backend server certificate, and the
 * delegation CA loaded as signing key material. Generated per test file.
 */
import { issueCertificate, type IssuedCertificate, type KeyAlgorithm } from '../../src/pki/dev/issue-certificate.js';
import { loadSigningCa, type KeyMaterial } from '../../src/pki/key-material.js';
import type { CliIo } from '../../src/cli/command.js';

export interface DelegationTestPki {
  delegationCa: IssuedCertificate;
  delegationMaterial: KeyMaterial;
  clientCa: IssuedCertificate;
  alice: IssuedCertificate;
  bob: IssuedCertificate;
  serverCa: IssuedCertificate;
  server: IssuedCertificate;
}

export async function signingCa(keyAlgorithm: KeyAlgorithm = 'ec-p256', subject = 'CN=test delegation CA'): Promise<{ ca: IssuedCertificate; material: KeyMaterial }> {
  // Ten years: a CA outlives the leaves made after it (their notAfter must be what caps a minted certificate).
  const ca = await issueCertificate({ subject, ca: true, keyAlgorithm, notAfter: new Date(Date.now() + 3650 * 86400_000) });
  return { ca, material: loadSigningCa({ certPem: ca.certPem, keyPem: ca.keyPem, what: 'delegation.ca' }) };
}

export async function delegationTestPki(): Promise<DelegationTestPki> {
  const { ca: delegationCa, material: delegationMaterial } = await signingCa();
  const clientCa = await issueCertificate({ subject: 'CN=test client CA', ca: true });
  const alice = await issueCertificate({ subject: 'CN=alice, O=Example', issuer: clientCa, dnsNames: ['alice.example'] });
  const bob = await issueCertificate({ subject: 'CN=bob, O=Example', issuer: clientCa });
  const serverCa = await issueCertificate({ subject: 'CN=test server CA', ca: true });
  const server = await issueCertificate({ subject: 'CN=backend.test', issuer: serverCa, usage: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  return { delegationCa, delegationMaterial, clientCa, alice, bob, serverCa, server };
}

export { tempDir } from './temp.js';

export function captureIo(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (l) => { stdout.push(l); }, err: (l) => { stderr.push(l); } };
}
