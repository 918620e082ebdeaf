/**
 * A reload that changes the edge's certificates or its client CAs builds a new
 * certificate store and swaps it with the rest: new handshakes get the new
 * server certificate; a client of a CA the reload removed has its open
 * connection closed (like a revocation) and its new ones refused, while a
 * client of a CA the reload added is served.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { TLSSocket } from 'node:tls';
import { makePki, writeConfig, startProxyProcess, baseConfig, type ProxyProcess, type TestPki } from '../helpers/proxy-process.js';
import { startHttpsBackend, type HttpsBackend } from '../helpers/node-backend.js';
import { readUntilClose, tlsClient, writeIssued } from '../helpers/e2e.js';
import { withTimeout } from '../helpers/wait.js';
import { askOnSocket as ask } from '../helpers/e2e.js';

let pki: TestPki;
let web: HttpsBackend;
let proxy: ProxyProcess;
let config: Record<string, any>;

before(async () => {
  pki = await makePki();
  // a second client CA with its client carol, and a second edge certificate for another name
  const ca2 = await writeIssued(pki.dir, 'client-ca-2', { subject: 'CN=second client CA', ca: true });
  await writeIssued(pki.dir, 'carol', { subject: 'CN=carol', issuer: ca2, usage: 'client' });
  await writeIssued(pki.dir, 'edge-2', { subject: 'CN=edge two', issuer: pki.pki.edgeCa, usage: 'server', dnsNames: ['localhost', 'two.localhost'] });
  web = await startHttpsBackend({ pkiDir: pki.dir });
  config = baseConfig(pki.dir, web.port, { mode: 'http' }) as Record<string, any>;
  proxy = await startProxyProcess(await writeConfig(pki.dir, config));
});
after(async () => { await proxy?.stop(); await web?.close(); });

const h1 = { ALPNProtocols: ['http/1.1'] };
async function reload(next: Record<string, any>, generation: number) {
  await writeConfig(pki.dir, next);
  proxy.child.kill('SIGHUP');
  return proxy.waitForLog((l) => l.msg === 'reload' && l.generation === generation);
}

test('new edge certificates and client CAs apply on reload; a client of a removed CA is closed', async () => {
  await assert.rejects(tlsClient(proxy.port, pki.dir, 'carol', h1).then((s) => ask(s, '/')).then((l) => { if (!l.includes('200')) throw new Error(l); }));
  const alice = await tlsClient(proxy.port, pki.dir, 'alice', h1);
  assert.equal(await ask(alice, '/before'), 'HTTP/1.1 200 OK');
  assert.equal(alice.getPeerX509Certificate()?.subject, 'CN=localhost');

  // both CAs, and the second edge certificate
  const both = structuredClone(config);
  both.edge.clientAuth.ca = [`${pki.dir}/client-ca.crt`, `${pki.dir}/client-ca-2.crt`];
  both.edge.certificates = [{ cert: `${pki.dir}/edge-2.crt`, key: `${pki.dir}/edge-2.key` }];
  const r = await reload(both, 2);
  assert.match(String(r.changes), /edge\.certificates/);
  const carol = await tlsClient(proxy.port, pki.dir, 'carol', h1);
  assert.equal(carol.getPeerX509Certificate()?.subject, 'CN=edge two', 'new handshakes get the new certificate');
  assert.equal(await ask(carol, '/carol'), 'HTTP/1.1 200 OK');
  assert.equal(await ask(alice, '/still'), 'HTTP/1.1 200 OK', 'alice, whose CA stayed, keeps her connection');

  // only the second CA: alice's open connection is closed, carol's stays
  const aliceClosed = readUntilClose(alice);
  const onlySecond = structuredClone(both);
  onlySecond.edge.clientAuth.ca = `${pki.dir}/client-ca-2.crt`;
  await reload(onlySecond, 3);
  await withTimeout(aliceClosed, "alice's connection is closed", 10_000);
  const line = await proxy.waitForLog((l) => l.msg === 'connection' && l.outcome === 'revoked' && l.reason === 'unknown CA');
  assert.equal(line.subject, 'CN=alice, O=countersign dev');
  assert.equal(await ask(carol, '/carol-again'), 'HTTP/1.1 200 OK');
  const again = await tlsClient(proxy.port, pki.dir, 'alice', h1);
  assert.match(await ask(again, '/'), /^HTTP\/1\.1 400/, "alice's new connection is refused");
  carol.destroy();
  again.destroy();
});
