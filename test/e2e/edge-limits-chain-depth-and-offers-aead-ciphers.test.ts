/**
 * The edge's TLS defaults: TLS 1.2 offers only AEAD suites with forward
 * secrecy (Mozilla's "intermediate"; a CBC suite or static RSA is refused),
 * `edge.ciphers` overrides the list, and a client chain deeper than
 * `edge.clientAuth.maxChainDepth` (default 4) is refused.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { issueCertificate, type IssuedCertificate } from '../../src/pki/dev/index.js';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startTlsBackend, type TlsBackend } from '../helpers/node-backend.js';
import { tlsClient } from '../helpers/e2e.js';
import { runCommand } from '../helpers/run-command.js';

let pki: TestPki;
let backend: TlsBackend;
let proxy: ProxyProcess;
let custom: ProxyProcess;

/** a client certificate under `depth - 1` intermediates (so `depth` certificates above the leaf, the root included), written as <name>.crt (leaf + intermediates) and .key */
async function chained(name: string, depth: number): Promise<void> {
  let issuer: IssuedCertificate = pki.pki.clientCa;
  const intermediates: IssuedCertificate[] = [];
  for (let i = 1; i < depth; i++) {
    issuer = await issueCertificate({ subject: `CN=${name} intermediate ${i}`, ca: true, issuer });
    intermediates.unshift(issuer);
  }
  const leaf = await issueCertificate({ subject: `CN=${name}`, issuer, usage: 'client' });
  await writeFile(`${pki.dir}/${name}.crt`, [leaf, ...intermediates].map((c) => c.certPem).join(''));
  await writeFile(`${pki.dir}/${name}.key`, leaf.keyPem, { mode: 0o600 });
}

before(async () => {
  pki = await makePki();
  backend = await startTlsBackend({ pkiDir: pki.dir });
  await chained('deep5', 5);
  await chained('deep4', 4);
  proxy = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port)));
  custom = await startProxyProcess(await writeConfig(pki.dir, baseConfig(pki.dir, backend.port, {}, {
    ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384', clientAuth: { mode: 'require', ca: `${pki.dir}/client-ca.crt`, maxChainDepth: 2 },
  }), 'custom.yaml'));
});
after(async () => { await proxy?.stop(); await custom?.stop(); await backend?.close(); });

const tls12 = (port: number, cipher: string) => runCommand('openssl', [
  's_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-tls1_2', '-cipher', cipher,
  '-cert', `${pki.dir}/alice.crt`, '-key', `${pki.dir}/alice.key`, '-CAfile', `${pki.dir}/edge-ca.crt`,
], { input: '', timeoutMs: 10_000 });
const negotiated = (out: string) => /Cipher is (\S+)/.exec(out)?.[1];

test('TLS 1.2: AEAD suites with ECDHE are negotiated; CBC and static-RSA suites are refused', async () => {
  assert.equal(negotiated((await tls12(proxy.port, 'ECDHE-ECDSA-AES128-GCM-SHA256')).stdout), 'ECDHE-ECDSA-AES128-GCM-SHA256');
  assert.equal(negotiated((await tls12(proxy.port, 'ECDHE-ECDSA-CHACHA20-POLY1305')).stdout), 'ECDHE-ECDSA-CHACHA20-POLY1305');
  for (const cbc of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA384', 'AES128-GCM-SHA256', 'AES128-SHA']) {
    const r = await tls12(proxy.port, cbc);
    assert.ok(!negotiated(r.stdout) || negotiated(r.stdout) === '(NONE)', `${cbc} was negotiated: ${r.stdout}`);
  }
});

test('edge.ciphers overrides the list', async () => {
  assert.equal(negotiated((await tls12(custom.port, 'ECDHE-ECDSA-AES256-GCM-SHA384')).stdout), 'ECDHE-ECDSA-AES256-GCM-SHA384');
  const r = await tls12(custom.port, 'ECDHE-ECDSA-AES128-GCM-SHA256');
  assert.ok(!negotiated(r.stdout) || negotiated(r.stdout) === '(NONE)', r.stdout);
});

async function served(port: number, who: string): Promise<boolean> {
  const s = await tlsClient(port, pki.dir, who, { ca: readFileSync(`${pki.dir}/edge-ca.crt`) });
  return new Promise((resolve) => {
    s.once('data', () => { s.destroy(); resolve(true); });
    s.once('close', () => resolve(false));
    s.on('error', () => {});
    s.write('ping');
  });
}

test('a chain of 4 above the leaf is served; 5 is refused and logged as chain too deep', async () => {
  assert.equal(await served(proxy.port, 'deep4'), true);
  assert.equal(await served(proxy.port, 'deep5'), false);
  const line = await proxy.waitForLog((l) => l.msg === 'client refused' && l.reason === 'chain too deep');
  assert.match(String(line.detail), /maxChainDepth is 4/);
});

test('maxChainDepth: 2 refuses a chain of 4 and serves a client issued by the root', async () => {
  assert.equal(await served(custom.port, 'alice'), true);
  assert.equal(await served(custom.port, 'deep4'), false);
});

test('TLS 1.2: a client-initiated renegotiation is refused (testssl: "Secure Client-Initiated Renegotiation")', async () => {
  const s = await tlsClient(proxy.port, pki.dir, 'alice', { maxVersion: 'TLSv1.2' });
  try {
    assert.equal(s.getProtocol(), 'TLSv1.2');
    const err = await new Promise<Error | null>((resolve) => {
      s.once('error', resolve);
      s.once('close', () => resolve(new Error('closed')));
      const started = s.renegotiate({ rejectUnauthorized: false }, (e) => resolve(e ?? null));
      if (!started) resolve(new Error('not started'));
    });
    assert.ok(err, 'the renegotiation did not complete');
    assert.match(String(err.message), /renegotiat|alert|closed|handshake/i, String(err));
  } finally { s.destroy(); }
  // and openssl's: R on the session line
  const r = await runCommand('openssl', [
    's_client', '-connect', `127.0.0.1:${proxy.port}`, '-servername', 'localhost', '-tls1_2',
    '-cert', `${pki.dir}/alice.crt`, '-key', `${pki.dir}/alice.key`, '-CAfile', `${pki.dir}/edge-ca.crt`,
  ], { input: 'R\n', timeoutMs: 10_000 });
  assert.match(r.stdout + r.stderr, /RENEGOTIATING/);
  assert.match(r.stdout + r.stderr, /no renegotiation|alert|error/i, r.stdout + r.stderr);
});
