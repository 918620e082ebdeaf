/**
 * The tls-alpn-01 responder on the edge harness, without an ACME server: what a
 * validator sees (RFC 8737) and what everybody else sees.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as tls from 'node:tls';
import acme from 'acme-client';
import { ChallengeRegistry, createTlsAlpnResponder } from '../../src/edge/acme/index.js';
import { createCertificateStore, type CertificateStore } from '../../src/edge/certificate-store.js';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/issue-certificate.js';
import { findExtension, parseCertificateFields } from '../../src/pki/x509-fields.js';
import { fingerprint, makeTempDir, opensslLeaf, startEdgeHarness, writePair, type EdgeTestServer } from '../helpers/edge-tls.js';

const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

describe('tls-alpn-01 responder on the edge listener', () => {
  let cleanup: () => Promise<void>;
  let normal: IssuedCertificate;
  let store: CertificateStore;
  let edge: EdgeTestServer;
  const challenges = new ChallengeRegistry();
  const keyAuthorization = 'token-abc.thumbprint-xyz';

  before(async () => {
    const t = await makeTempDir();
    cleanup = t.cleanup;
    normal = await issueCertificate({ subject: 'CN=shop.test', usage: 'server', dnsNames: ['shop.test', 'other.test'] });
    store = await createCertificateStore({ certificates: [await writePair(t.dir, 'shop', normal)], watch: false });
    const authz = { identifier: { type: 'dns', value: 'shop.test' } } as acme.Authorization;
    const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey());
    challenges.setTlsAlpn('shop.test', tls.createSecureContext({ key, cert }));
    edge = await startEdgeHarness({ store, responder: createTlsAlpnResponder({ challenges }) });
  });
  after(async () => { await edge.close(); await store.stop(); await cleanup(); });

  const dial = (opts: tls.ConnectionOptions) => new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: edge.port, rejectUnauthorized: false, ...opts }, () => resolve(s));
    s.once('error', reject);
  });

  it('presents the challenge certificate with acme-tls/1 selected, then closes', async () => {
    const s = await dial({ servername: 'shop.test', ALPNProtocols: ['acme-tls/1'] });
    assert.equal(s.alpnProtocol, 'acme-tls/1');
    const peer = s.getPeerX509Certificate()!;
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    assert.equal(peer.subjectAltName, 'DNS:shop.test');
    const ext = findExtension(parseCertificateFields(peer.raw), ACME_IDENTIFIER_OID)!;
    assert.equal(ext.critical, true, 'id-pe-acmeIdentifier must be critical (RFC 8737 §3)');
    // extnValue is an OCTET STRING holding the 32-byte SHA-256 of the key authorization
    assert.deepEqual(ext.value.subarray(2), createHash('sha256').update(keyAuthorization).digest());
    assert.ok(acme.crypto.isAlpnCertificateAuthorizationValid(peer.toString(), keyAuthorization));
    await closed; // the responder ends the connection; no application data is exchanged
  });

  it('works for a Go-style validator that offers only acme-tls/1 (openssl s_client)', async () => {
    const { leaf, output } = await opensslLeaf(['-connect', `127.0.0.1:${edge.port}`, '-servername', 'shop.test', '-alpn', 'acme-tls/1']);
    assert.match(output, /ALPN protocol: acme-tls\/1/);
    assert.ok(findExtension(parseCertificateFields(leaf.raw), ACME_IDENTIFIER_OID));
  });

  it('serves the normal certificate to the same name without acme-tls/1', async () => {
    const s = await dial({ servername: 'shop.test', ALPNProtocols: ['http/1.1'] });
    assert.equal(s.getPeerX509Certificate()!.fingerprint256, fingerprint(normal));
    assert.equal(s.alpnProtocol, 'http/1.1');
    s.destroy();
  });

  it('passes acme-tls/1 for a name without a pending challenge to the normal server', async () => {
    await assert.rejects(dial({ servername: 'other.test', ALPNProtocols: ['acme-tls/1'] }), (err: NodeJS.ErrnoException) => err.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
    const s = await dial({ servername: 'other.test' });
    assert.equal(s.getPeerX509Certificate()!.fingerprint256, fingerprint(normal));
    s.destroy();
  });

  it('stops answering once the challenge is removed', async () => {
    challenges.deleteTlsAlpn('shop.test');
    await assert.rejects(dial({ servername: 'shop.test', ALPNProtocols: ['acme-tls/1'] }));
  });
});
