/**
 * A client whose certificate comes from an intermediate CA (curl sends leaf +
 * intermediate), in header mode: RFC 9440's Client-Cert-Chain brings the
 * chain to the backend, which decodes it with countersign/backend — the same
 * codecs on both sides, over the real proxy. The chain is the one the edge
 * verified, so it ends with the trust anchor (RFC 9440 allows it). XFCC
 * carries no Chain= (as Envoy by default) and kes only the leaf (as nginx).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { readForwardedCertificate, resolveHeaderSpecs, type HeaderFormat } from 'countersign/backend';
import { sha256 } from '../../src/pki/certificate-info.js';
import { issueCertificate } from '../../src/pki/dev/issue-certificate.js';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { trackSockets } from '../helpers/node-backend.js';
import { curl, curlStatus } from '../helpers/run-command.js';

let pki: TestPki;
let proxy: ProxyProcess;
let backend: Server;
let leafSha256: string;
let intermediateSha256: string;
let rootSha256: string;

before(async () => {
  pki = await makePki();
  const intermediate = await issueCertificate({ subject: 'CN=client intermediate CA', ca: true, issuer: pki.pki.clientCa });
  const carol = await issueCertificate({ subject: 'CN=carol, O=Example', issuer: intermediate });
  writeFileSync(pki.file('carol.crt'), carol.certPem + intermediate.certPem);
  writeFileSync(pki.file('carol.key'), carol.keyPem, { mode: 0o600 });
  leafSha256 = sha256(carol.cert.raw).toString('hex');
  intermediateSha256 = sha256(intermediate.cert.raw).toString('hex');
  rootSha256 = sha256(pki.pki.clientCa.cert.raw).toString('hex');

  const f = (n: string) => readFileSync(pki.file(n));
  // the backend decodes the format named by the path's first segment, and says what it found
  backend = createServer({ cert: f('backend.crt'), key: f('backend.key'), ca: f('backend-ca.crt'), requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const format = (req.url ?? '').split('/')[1] as HeaderFormat;
    res.setHeader('content-type', 'application/json');
    try {
      const [spec] = resolveHeaderSpecs(format);
      const got = readForwardedCertificate(req, spec);
      res.end(JSON.stringify({
        fromProxy: (req.socket as TLSSocket).authorized,
        cert: got && sha256(got.der).toString('hex'),
        chain: got?.chain.map((c) => sha256(c).toString('hex')),
      }));
    } catch (err) {
      res.statusCode = 400;
      res.end(JSON.stringify({ error: String(err) }));
    }
  });
  const t = trackSockets(backend);
  after(() => t.destroyAll());
  const port = await new Promise<number>((r) => backend.listen(0, '127.0.0.1', () => r((backend.address() as { port: number }).port)));
  const proxyCert = { cert: pki.file('proxy-client.crt'), key: pki.file('proxy-client.key') };
  const config = baseConfig(pki.dir, port);
  config.routes = (['rfc9440', 'xfcc', 'kes'] as const).map((header) => ({
    upstream: 'backend', match: { pathPrefix: `/${header}/` }, mode: 'http', identity: 'header', header, proxyCert,
  }));
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});

after(async () => {
  await proxy?.stop();
  await new Promise((r) => backend?.close(r));
});

async function seen(format: string): Promise<{ fromProxy: boolean; cert: string; chain: string[] }> {
  const r = curlStatus(await curl(pki.dir, 'carol', `https://localhost:${proxy.port}/${format}/x`));
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body);
}

test('rfc9440: Client-Cert is the leaf, Client-Cert-Chain the intermediate the client sent, then the root', async () => {
  assert.deepEqual(await seen('rfc9440'), { fromProxy: true, cert: leafSha256, chain: [intermediateSha256, rootSha256] });
});

test('xfcc: Cert= is the leaf; no Chain= (Envoy sends one only with set_current_client_cert_details.chain)', async () => {
  assert.deepEqual(await seen('xfcc'), { fromProxy: true, cert: leafSha256, chain: [] });
});

test('kes: only the leaf, as nginx sends', async () => {
  assert.deepEqual(await seen('kes'), { fromProxy: true, cert: leafSha256, chain: [] });
});
