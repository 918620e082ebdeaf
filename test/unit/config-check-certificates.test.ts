/**
 * checkCertificates (src/config/check-certificates.ts), the part of `check` =
 * `start` that looks at what the certificates can do: which route names the
 * edge certificates cover, and CA bundles with leftovers.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { checkCertificates, parseConfigObject, type Config } from '../../src/config/index.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/index.js';
import { writeIssued } from '../helpers/e2e.js';
import { tempDir, type TempDir } from '../helpers/temp.js';

let t: TempDir;
let ca: IssuedCertificate;

before(async () => {
  t = await tempDir();
  ca = await issueCertificate({ subject: 'CN=test CA', ca: true });
  await writeIssued(t.dir, 'wild', { subject: 'CN=wild', issuer: ca, usage: 'server', dnsNames: ['*.example.com'] });
  await writeIssued(t.dir, 'one', { subject: 'CN=one', issuer: ca, usage: 'server', dnsNames: ['a.example.org'] });
  await writeIssued(t.dir, 'ca', { subject: 'CN=client CA', ca: true });
  await writeIssued(t.dir, 'old-ca', { subject: 'CN=old client CA', ca: true, notBefore: new Date(Date.now() - 10 * 86400_000), notAfter: new Date(Date.now() - 86400_000) });
});
after(() => t.remove());

function config(o: { certs: string[]; sni: string[]; clientCa?: string[] }): Config {
  return parseConfigObject({
    edge: { certificates: o.certs.map((n) => ({ cert: `${n}.crt`, key: `${n}.key` })), clientAuth: { ca: (o.clientCa ?? ['ca']).map((n) => `${n}.crt`) } },
    upstreams: { u: { servers: ['127.0.0.1:1'], ca: 'ca.crt' } },
    routes: o.sni.map((sni) => ({ upstream: 'u', match: { sni }, mode: 'connection', identity: 'delegated' })).concat([{ upstream: 'u' } as never]),
    delegation: { ca: { cert: 'ca.crt', key: 'ca.key' } },
  }, t.dir);
}

describe('route names the edge certificates cannot match', () => {
  it('a wildcard certificate covers names under it and a wildcard route of the same domain', () => {
    const r = checkCertificates(config({ certs: ['wild'], sni: ['kes.example.com', '*.example.com'] }));
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.problems, []);
  });

  it('warns for a name no certificate covers, and for a wildcard route that one specific certificate does not cover', () => {
    const r = checkCertificates(config({ certs: ['wild', 'one'], sni: ['kes.example.net', '*.example.org', 'a.example.org', 'deep.sub.example.com'] }));
    assert.deepEqual(r.warnings.map((w) => /^routes\[(\d)\]\.match\.sni: no edge certificate covers "([^"]+)"/.exec(w)?.slice(1).join(' ')), ['0 kes.example.net', '1 *.example.org', '3 deep.sub.example.com']);
  });
});

describe('CA bundles', () => {
  it('an expired entry beside a valid CA is a warning; alone it is a problem', () => {
    const mixed = checkCertificates(config({ certs: ['wild'], sni: [], clientCa: ['ca', 'old-ca'] }));
    assert.deepEqual(mixed.problems, []);
    assert.equal(mixed.warnings.length, 1);
    assert.match(mixed.warnings[0], /^edge\.clientAuth\.ca: certificate #1 of \S+old-ca\.crt: "CN=old client CA" expired at/);
    const alone = checkCertificates(config({ certs: ['wild'], sni: [], clientCa: ['old-ca'] }));
    assert.match(alone.problems[0], /^edge\.clientAuth\.ca: no certificate in \S+old-ca\.crt can verify anything now$/);
  });
});
