/**
 * countersign in header mode (`mode: http`, `identity: header`, `header: kes`)
 * is a drop-in for the KES guide's nginx: the same client certificate through
 * either reaches the same capturing backend with the same X-Tls-Client-Cert,
 * byte for byte. And whatever identity headers a client sends itself — any
 * family, any case, "_" for "-", repeated, HTTP/1.1 or HTTP/2 — the backend
 * never sees the client's value.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { readForwardedCertificate } from '../../src/backend/index.js';
import { encodeIdentityHeaders, IDENTITY_HEADER_NAMES, type IdentityHeaderFormat } from '../../src/forward/identity-headers.js';
import { certificatesDer, identityOf } from '../../src/pki/index.js';
import {
  curl, interopPki, kesGuideServerBlock, opensslClientCertificate, startCapturingBackend, startNginx,
  type CapturedRequest, type CapturingBackend, type InteropPki, type RunningNginx,
} from '../helpers/nginx.js';
import { baseConfig, startProxyProcess, writeConfig, type ProxyProcess } from '../helpers/proxy-process.js';

let pki: InteropPki;
let backend: CapturingBackend;
let nginx: RunningNginx;
let proxy: ProxyProcess;
let odd: { certPath: string; keyPath: string };

/** The route a KES operator writes in place of the nginx server block. */
function headerRoute(header: IdentityHeaderFormat, extra: Record<string, unknown> = {}) {
  return {
    mode: 'http', identity: 'header', header,
    proxyCert: { cert: pki.file('proxy-client.crt'), key: pki.file('proxy-client.key') },
    ...extra,
  };
}

async function startCountersign(route: Record<string, unknown>, name: string): Promise<ProxyProcess> {
  return startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, route), name));
}

before(async () => {
  pki = await interopPki();
  backend = await startCapturingBackend({ certPem: pki.pki.backend.certPem, keyPem: pki.pki.backend.keyPem, ca: pki.pki.backendCa.certPem });
  nginx = await startNginx({ files: pki.nginxFiles, http: (ctx) => kesGuideServerBlock(ctx, { backendPort: backend.port, verifyClient: 'on' }) });
  proxy = await startCountersign(headerRoute('kes'), 'countersign-kes.yaml');
  odd = await opensslClientCertificate({
    dir: pki.dir, name: 'odd', key: 'rsa-2048', issuer: { certPath: pki.file('client-ca.crt'), keyPath: pki.file('client-ca.key') },
    subject: '/C=DE/O=Müller \\+ Söhne, "GmbH"/OU=a=b+OU=team one/CN=日本 smith',
  });
});

after(async () => {
  await proxy?.stop();
  await nginx?.stop();
  await backend?.close();
  await pki?.cleanup();
});

const countersignUrl = (p: ProxyProcess, path = '/v1/status') => `https://127.0.0.1:${p.port}${path}`;

async function request(url: string, cert: { certPath: string; keyPath: string }, args: string[] = []): Promise<CapturedRequest> {
  const before = backend.requests.length;
  const r = await curl(url, ['--cacert', pki.file('edge-ca.crt'), '--cert', cert.certPath, '--key', cert.keyPath, ...args]);
  assert.equal(r.status, 200, `curl ${url}: exit ${r.exitCode} ${r.stderr} ${r.body}`);
  assert.equal(backend.requests.length, before + 1, 'exactly one request reached the backend');
  return backend.requests[backend.requests.length - 1];
}

const alice = () => ({ certPath: pki.file('alice.crt'), keyPath: pki.file('alice.key') });

test('nginx and countersign send the backend the same X-Tls-Client-Cert for the same client certificate', async () => {
  for (const cert of [alice(), odd]) {
    const viaNginx = await request(`${nginx.url}/v1/status`, cert);
    const viaCountersign = await request(countersignUrl(proxy), cert);
    const der = certificatesDer(await readFile(cert.certPath))[0];
    assert.equal(viaNginx.headers['x-tls-client-cert'], encodeIdentityHeaders('kes', { der })['X-Tls-Client-Cert']);
    assert.equal(viaCountersign.headers['x-tls-client-cert'], viaNginx.headers['x-tls-client-cert']);
    // both authenticate to the backend with the same proxy certificate: KES trusts that identity
    assert.deepEqual(viaCountersign.peerCertDer, pki.pki.proxyClient.cert.raw);
    assert.deepEqual(viaNginx.peerCertDer, pki.pki.proxyClient.cert.raw);
  }
});

test('the backend library\'s decoder reads the same identity from either proxy\'s header', async () => {
  const viaNginx = await request(`${nginx.url}/v1/status`, alice());
  const viaCountersign = await request(countersignUrl(proxy), alice());
  const spec = { format: 'kes' as const, name: 'x-tls-client-cert' };
  const fromNginx = readForwardedCertificate(viaNginx, spec);
  const fromCountersign = readForwardedCertificate(viaCountersign, spec);
  assert.equal(identityOf(fromNginx!.der), identityOf(pki.pki.clients.alice.cert.raw));
  assert.equal(identityOf(fromCountersign!.der), identityOf(fromNginx!.der));
});

/** Headers a client might send to pick its identity; every one must be gone at the backend. */
function spoofArgs(forged: string): string[] {
  const lines = [
    `X-Tls-Client-Cert: ${forged}`, `x-tls-client-cert: ${forged}`, `X-TLS-CLIENT-CERT: second`,
    `X_Tls_Client_Cert: ${forged}`,
    'Client-Cert: :AAAA:', 'client-cert: :BBBB:', 'Client-Cert-Chain: :AA==:, :BB==:',
    'X-Forwarded-Client-Cert: By=spiffe://evil;Hash=00;Subject="CN=root"', 'x-forwarded-client-cert: Hash=11',
    'SSL-Client-Cert: x', 'X-SSL-Cert: y', 'X-Client-Cert: z', 'X-Amzn-Mtls-Clientcert: w', 'X-SSL-Client-Verify: SUCCESS',
    'X-Keep-Me: yes',
  ];
  return lines.flatMap((l) => ['-H', l]);
}

for (const version of ['--http1.1', '--http2']) {
  test(`${version}: no client-sent identity header reaches the backend; the one it sees is countersign's`, async () => {
    const forged = encodeIdentityHeaders('kes', { der: pki.pki.clients.root.cert.raw })['X-Tls-Client-Cert'];
    const seen = await request(countersignUrl(proxy), alice(), [version, ...spoofArgs(forged)]);
    assert.equal(seen.headers['x-keep-me'], 'yes', 'ordinary headers still pass');
    assert.equal(seen.headers['x-tls-client-cert'], encodeIdentityHeaders('kes', { der: pki.pki.clients.alice.cert.raw })['X-Tls-Client-Cert']);
    const lines: string[] = [];
    for (let i = 0; i < seen.rawHeaders.length; i += 2) lines.push(seen.rawHeaders[i].toLowerCase().replaceAll('_', '-'));
    assert.equal(lines.filter((n) => n === 'x-tls-client-cert').length, 1, 'one X-Tls-Client-Cert line, not the client\'s as well');
    for (const name of IDENTITY_HEADER_NAMES.filter((n) => n !== 'x-tls-client-cert')) {
      assert.ok(!lines.includes(name), `${name} was forwarded: ${JSON.stringify(seen.rawHeaders)}`);
    }
    assert.ok(!JSON.stringify(seen.rawHeaders).includes(forged), 'the forged certificate is nowhere in the request');
  });
}

test('rfc9440 and xfcc routes send exactly what the encoder produces, and strip the other families', async () => {
  const forged = encodeIdentityHeaders('kes', { der: pki.pki.clients.root.cert.raw })['X-Tls-Client-Cert'];
  const der = pki.pki.clients.alice.cert.raw;
  for (const format of ['rfc9440', 'xfcc'] as const) {
    const p = await startCountersign(headerRoute(format), `countersign-${format}.yaml`);
    try {
      const seen = await request(countersignUrl(p), alice(), spoofArgs(forged));
      // The proxy decides whether to pass a chain (the client sent none; the verified chain
      // ends at the client CA, which RFC 9440 allows to be included or left out).
      const candidates = [
        encodeIdentityHeaders(format, { der }),
        encodeIdentityHeaders(format, { der, chain: [pki.pki.clientCa.cert.raw] }),
      ];
      const sent = Object.fromEntries(IDENTITY_HEADER_NAMES.filter((n) => seen.headers[n] !== undefined).map((n) => [n, seen.headers[n]]));
      const canonical = (h: Record<string, unknown>) => JSON.stringify(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]).sort());
      const matches = candidates.some((c) => canonical(c) === canonical(sent));
      assert.ok(matches, `${format}: the backend saw ${JSON.stringify(sent).slice(0, 400)}…, not what the encoder makes`);
      assert.equal(seen.headers['x-keep-me'], 'yes');
    } finally {
      await p.stop();
    }
  }
});
