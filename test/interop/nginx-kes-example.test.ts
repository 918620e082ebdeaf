/**
 * The configurations users copy must work as written: the nginx server block
 * and the countersign config on docs/replacing-nginx-for-kes.md, and
 * examples/kes/countersign.yaml, each run for real (paths and addresses
 * rewritten to this machine) in front of two capturing "KES servers".
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, symlink, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeIdentityHeaders } from '../../src/forward/identity-headers.js';
import { identityOf } from '../../src/pki/index.js';
import {
  curl, interopPki, startCapturingBackend, startNginx,
  type CapturingBackend, type InteropPki, type RunningNginx,
} from '../helpers/nginx.js';
import { REPO_ROOT, startProxyProcess, writeConfig, type ProxyProcess } from '../helpers/proxy-process.js';

let pki: InteropPki;
let kes: [CapturingBackend, CapturingBackend];
let docNginx: RunningNginx;
let docCountersign: ProxyProcess;
let example: ProxyProcess;
let exampleDir: string;

/** The first fenced block of `lang` in a markdown file. */
async function fencedBlock(file: string, lang: string): Promise<string> {
  const text = await readFile(join(REPO_ROOT, file), 'utf8');
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(text);
  assert.ok(m, `${file} has a \`\`\`${lang} block`);
  return m[1];
}

/** Rewrites the documented addresses to the two local stand-ins for KES. */
function localServers(text: string): string {
  return text
    .replaceAll('10.0.0.11:7373', `127.0.0.1:${kes[0].port}`)
    .replaceAll('10.0.0.12:7373', `127.0.0.1:${kes[1].port}`)
    .replaceAll('kes.internal', 'backend.internal'); // the dev backend certificate's name
}

before(async () => {
  pki = await interopPki();
  const stand = () => startCapturingBackend({ certPem: pki.pki.backend.certPem, keyPem: pki.pki.backend.keyPem, ca: pki.pki.backendCa.certPem });
  kes = [await stand(), await stand()];

  // the page's file names, filled from the dev PKI
  const docFiles: Record<string, string> = {
    'server.crt': pki.pki.edge.certPem, 'server.key': pki.pki.edge.keyPem,
    'client.crt': pki.pki.proxyClient.certPem, 'client.key': pki.pki.proxyClient.keyPem,
    'kes-ca.crt': pki.pki.backendCa.certPem,
  };
  for (const [name, content] of Object.entries(docFiles)) await writeFile(join(pki.dir, name), content, { mode: 0o600 });

  const nginxBlock = await fencedBlock('docs/replacing-nginx-for-kes.md', 'nginx');
  docNginx = await startNginx({
    files: docFiles,
    http: (ctx) => localServers(nginxBlock)
      .replace(/listen\s+443 ssl http2;/, `listen 127.0.0.1:${ctx.port} ssl http2;`)
      .replaceAll('/etc/nginx/kes/', `${ctx.dir}/`),
  });

  const yamlBlock = await fencedBlock('docs/replacing-nginx-for-kes.md', 'yaml');
  const docYaml = localServers(yamlBlock).replace('listen: 0.0.0.0:443', 'listen: 127.0.0.1:0').replaceAll('/etc/nginx/kes/', `${pki.dir}/`);
  docCountersign = await startProxyProcess(await writeConfig(pki.dir, docYaml, 'doc-countersign.yaml'));

  // examples/kes as shipped, next to a certs/ directory from the dev PKI
  exampleDir = await mkdtemp(join(tmpdir(), 'countersign-kes-example-'));
  await symlink(pki.dir, join(exampleDir, 'certs'));
  const exampleYaml = localServers(await readFile(join(REPO_ROOT, 'examples/kes/countersign.yaml'), 'utf8'))
    .replace('listen: 0.0.0.0:8443', 'listen: 127.0.0.1:0')
    .replace('0000000000000000000000000000000000000000000000000000000000000000', identityOf(pki.pki.clients.root.cert.raw));
  example = await startProxyProcess(await writeConfig(exampleDir, exampleYaml, 'countersign.yaml'));
});

after(async () => {
  await example?.stop();
  await docCountersign?.stop();
  await docNginx?.stop();
  for (const k of kes ?? []) await k.close();
  if (exampleDir) await rm(exampleDir, { recursive: true, force: true });
  await pki?.cleanup();
});

const received = () => kes[0].requests.length + kes[1].requests.length;

async function call(url: string, who: 'alice' | 'root' | null, args: string[] = []) {
  const cert = who ? ['--cert', pki.file(`${who}.crt`), '--key', pki.file(`${who}.key`)] : [];
  return curl(url, ['--cacert', pki.file('edge-ca.crt'), ...cert, ...args]);
}

test('the page\'s nginx config and the countersign config replacing it send KES the same header, over both servers', async () => {
  const expected = encodeIdentityHeaders('kes', { der: pki.pki.clients.alice.cert.raw })['X-Tls-Client-Cert'];
  for (const [name, base] of [['nginx', docNginx.url], ['countersign', `https://127.0.0.1:${docCountersign.port}`]] as const) {
    const before = [kes[0].requests.length, kes[1].requests.length];
    for (let i = 0; i < 4; i++) {
      const r = await call(`${base}/v1/key/generate/my-app-key`, 'alice', ['-X', 'POST', '-d', '{}', '--no-keepalive']);
      assert.equal(r.status, 200, `${name}: ${r.stderr} ${r.body}`);
    }
    const got = [kes[0].requests.slice(before[0]), kes[1].requests.slice(before[1])];
    assert.ok(got[0].length > 0 && got[1].length > 0, `${name} used both KES servers (${got[0].length}/${got[1].length})`);
    for (const req of [...got[0], ...got[1]]) {
      assert.equal(req.headers['x-tls-client-cert'], expected, name);
      assert.deepEqual(req.peerCertDer, pki.pki.proxyClient.cert.raw, `${name} authenticated with the proxy certificate`);
      assert.equal(req.method, 'POST');
    }
  }
});

test('examples/kes: the allowed APIs reach KES with the client\'s certificate', async () => {
  const base = `https://127.0.0.1:${example.port}`;
  const expected = encodeIdentityHeaders('kes', { der: pki.pki.clients.alice.cert.raw })['X-Tls-Client-Cert'];
  for (const path of ['/v1/key/create/minio-a', '/v1/key/generate/minio-a', '/v1/key/decrypt/minio-a', '/v1/key/bulk/decrypt/minio-a', '/v1/status', '/v1/version']) {
    const n = received();
    const r = await call(base + path, 'alice', ['-X', 'POST', '-d', '{}']);
    assert.equal(r.status, 200, `${path}: ${r.body}`);
    assert.equal(received(), n + 1);
    const seen = [...kes[0].requests, ...kes[1].requests].find((q) => q.url === path && q.headers['x-tls-client-cert'] === expected);
    assert.ok(seen, `${path} arrived with alice's X-Tls-Client-Cert`);
  }
});

test('examples/kes: dangerous APIs get 404 from countersign and never reach KES', async () => {
  const base = `https://127.0.0.1:${example.port}`;
  const n = received();
  for (const [method, path] of [
    ['DELETE', '/v1/key/delete/minio-a'], ['POST', '/v1/key/import/minio-a'], ['POST', '/v1/policy/write/evil'],
    ['POST', '/v1/identity/delete/abc'], ['GET', '/v1/log/audit'], ['GET', '/v1/log/error'], ['GET', '/v1/metrics'], ['GET', '/'],
  ]) {
    const r = await call(base + path, 'alice', ['-X', method]);
    assert.equal(r.status, 404, `${method} ${path}: ${r.body}`);
  }
  assert.equal(received(), n, 'nothing reached KES');
});

test('examples/kes: the root identity is refused at the edge', async () => {
  const n = received();
  const r = await call(`https://127.0.0.1:${example.port}/v1/key/generate/minio-a`, 'root', ['-X', 'POST']);
  assert.equal(r.status, 403, r.body);
  assert.equal(received(), n);
});

test('a client without a certificate: refused by countersign, forwarded (headerless) by nginx', async () => {
  const n = received();
  const viaExample = await call(`https://127.0.0.1:${example.port}/v1/status`, null);
  assert.equal(viaExample.status, 403, viaExample.body);
  assert.equal(received(), n);
  const viaNginx = await call(`${docNginx.url}/v1/status`, null);
  assert.equal(viaNginx.status, 200);
  assert.equal(received(), n + 1);
  const req = [...kes[0].requests, ...kes[1].requests].find((q) => q.headers['x-tls-client-cert'] === undefined);
  assert.ok(req, 'nginx forwarded it without X-Tls-Client-Cert, leaving the refusal to KES');
});
