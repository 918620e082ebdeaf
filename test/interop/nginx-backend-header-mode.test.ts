/**
 * Real nginx (the KES guide's configuration) in front of a Node backend that
 * uses countersign/backend in header mode: the backend trusts nginx's proxy
 * certificate by identity, reads X-Tls-Client-Cert, and applies a KES-style
 * policy to the identity it recovers — the same thing a KES server does.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { countersignHandler, createIdentifier, createPolicyEngine } from '../../src/backend/index.js';
import { encodeIdentityHeaders } from '../../src/forward/identity-headers.js';
import { certificatesDer, identityOf } from '../../src/pki/index.js';
import {
  curl, interopPki, kesGuideServerBlock, opensslClientCertificate, startNginx,
  type InteropPki, type RunningNginx,
} from '../helpers/nginx.js';

let pki: InteropPki;
let nginx: RunningNginx;
let backend: Server;
let backendPort: number;
let odd: { certPath: string; keyPath: string; certPem: string };
const id = {} as Record<'alice' | 'bob' | 'root' | 'odd' | 'proxy', string>;

before(async () => {
  pki = await interopPki();
  odd = await opensslClientCertificate({
    dir: pki.dir, name: 'odd', key: 'rsa-2048', issuer: { certPath: pki.file('client-ca.crt'), keyPath: pki.file('client-ca.key') },
    subject: '/O=Müller \\+ Söhne/CN=app one',
  });
  id.alice = identityOf(pki.pki.clients.alice.cert.raw);
  id.bob = identityOf(pki.pki.clients.bob.cert.raw);
  id.root = identityOf(pki.pki.clients.root.cert.raw);
  id.proxy = identityOf(pki.pki.proxyClient.cert.raw);
  id.odd = identityOf(certificatesDer(await readFile(odd.certPath))[0]);

  const identifier = createIdentifier({ trustedProxies: [id.proxy], header: 'kes', allowDirect: true });
  const policy = createPolicyEngine({
    policies: {
      'my-app': { allow: ['/v1/key/generate/my-app*', '/v1/key/decrypt/my-app*'], identities: [id.alice, id.odd] },
    },
    disabled: [id.root], // the KES guide: take root out of service behind a proxy
  });
  backend = createServer({
    cert: pki.pki.backend.certPem, key: pki.pki.backend.keyPem,
    // the proxy's certificate (backend CA) and, for the direct-client test, client certificates
    ca: [pki.pki.backendCa.certPem, pki.pki.clientCa.certPem], requestCert: true, rejectUnauthorized: true,
  }, countersignHandler({ identifier, policy })((req, res) => {
    const c = req.countersign;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ via: c.via, identity: c.identity, subject: c.subject, proxy: c.proxy?.identity, policy: c.policy }));
  }));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  backendPort = (backend.address() as AddressInfo).port;
  nginx = await startNginx({ files: pki.nginxFiles, http: (ctx) => kesGuideServerBlock(ctx, { backendPort, verifyClient: 'on' }) });
});

after(async () => {
  await nginx?.stop();
  backend?.closeAllConnections();
  await new Promise((r) => backend?.close(r));
  await pki?.cleanup();
});

async function viaNginx(who: 'alice' | 'root' | 'bob', path: string, extra: string[] = []) {
  const r = await curl(nginx.url + path, ['--cacert', pki.file('edge-ca.crt'), '--cert', pki.file(`${who}.crt`), '--key', pki.file(`${who}.key`), ...extra]);
  assert.ok(r.status > 0, `curl: ${r.stderr}\n${await nginx.errorLog()}`);
  return { status: r.status, json: JSON.parse(r.body) as Record<string, string> };
}

test('the backend library recovers the client behind nginx, vouched for by nginx\'s proxy certificate', async () => {
  const { status, json } = await viaNginx('alice', '/v1/key/generate/my-app-key');
  assert.equal(status, 200);
  assert.deepEqual(json, { via: 'header', identity: id.alice, subject: json.subject, proxy: id.proxy, policy: 'my-app' });
  assert.match(json.subject, /CN=alice/);
});

test('an RSA client with "+" and UTF-8 in its subject is recovered by its identity (SHA-256 of its public key)', async () => {
  const r = await curl(nginx.url + '/v1/key/decrypt/my-app-key', ['--cacert', pki.file('edge-ca.crt'), '--cert', odd.certPath, '--key', odd.keyPath]);
  assert.equal(r.status, 200, r.body);
  const json = JSON.parse(r.body);
  assert.equal(json.via, 'header');
  assert.equal(json.identity, id.odd);
});

test('the policy applies to the recovered identity: a path outside it is refused', async () => {
  const { status, json } = await viaNginx('alice', '/v1/key/delete/my-app-key');
  assert.equal(status, 403);
  assert.equal(json.code, 'ERR_POLICY_DENIED');
});

test('root behind the proxy is refused (disabled, as the KES guide recommends)', async () => {
  const { status, json } = await viaNginx('root', '/v1/key/generate/anything');
  assert.equal(status, 403);
  assert.equal(json.code, 'ERR_POLICY_DENIED');
});

test('an identity with no policy is refused', async () => {
  const { status } = await viaNginx('bob', '/v1/key/generate/my-app-key');
  assert.equal(status, 403);
});

test('a client that connects directly cannot choose its identity with a forged X-Tls-Client-Cert', async () => {
  const forged = encodeIdentityHeaders('kes', { der: pki.pki.clients.root.cert.raw })['X-Tls-Client-Cert'];
  const r = await curl(`https://127.0.0.1:${backendPort}/v1/key/generate/my-app-key`, [
    '--cacert', pki.file('backend-ca.crt'), '--cert', pki.file('alice.crt'), '--key', pki.file('alice.key'), '-H', `X-Tls-Client-Cert: ${forged}`,
  ]);
  assert.equal(r.status, 200, r.body);
  const json = JSON.parse(r.body);
  assert.equal(json.via, 'direct');
  assert.equal(json.identity, id.alice);
});
